import { spawnSync } from 'node:child_process';
import { shellQuote, slurmScript, type SlurmJob } from './slurm-script';

const job: SlurmJob = {
  jobName: 'rt', nodes: 2, tasksPerNode: 4, gpusPerNode: 4, time: '1:00:00', partition: 'gpu', account: 'proj', sbatchArgs: ['--qos=high'],
  signalBeforeSec: 120, runDir: '/shared/runs/a b', node: '/usr/bin/node', cli: '/opt/ringtrain/dist/ringtrain.cjs',
  trainFlags: ['--model', 'small', '--data', "it's.txt"], maxRestarts: 3, bind: '0.0.0.0', tls: { cert: '/c.pem', key: '/k.pem' }, workerTermGraceMs: 110000,
};

describe('slurmScript', () => {
  const script = slurmScript(job);

  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('asks for the nodes, one task per GPU, the time limit, the signal before it, requeue and an appended log', () => {
    for (const line of ['--nodes=2', '--ntasks-per-node=4', '--gpus-per-node=4', '--time=1:00:00', '--partition=gpu', '--account=proj', '--qos=high', '--signal=B:USR1@120', '--requeue', '--open-mode=append', "--output=/shared/runs/a b/slurm-%j.out"]) {
      expect(script).toContain(`#SBATCH ${line}\n`);
    }
  });

  it('runs the coordinator on the batch host and the workers through srun, quoting what the user typed', () => {
    expect(script).toContain(`"$NODE" "$CLI" coordinator --host 0.0.0.0 --run-dir "$RUN_DIR" --model small --data 'it'\\''s.txt' &`);
    expect(script).toMatch(/srun --kill-on-bad-exit=1 --ntasks="\$SLURM_NTASKS" --ntasks-per-node=4 --gpus-per-task=1 --export=ALL,LOCAL_WORLD_SIZE=4 "\$NODE" "\$CLI" worker --host auto --bind 0\.0\.0\.0 --term-grace-ms 110000 &/);
    expect(script).toContain("RUN_DIR='/shared/runs/a b'");
    expect(script).toContain('export MASTER_PORT=$(( 20000 + SLURM_JOB_ID % 20000 ))');
    expect(script).toContain('export RINGTRAIN_TLS_CERT=/c.pem\nexport RINGTRAIN_TLS_KEY=/k.pem\n');
    expect(script).toContain('[ "$starts" -gt 3 ]');
    expect(script).toContain('scontrol requeue "$SLURM_JOB_ID"');
  });

  it('on one node everything stays on loopback', () => {
    const one = slurmScript({ ...job, nodes: 1, bind: '127.0.0.1', gpusPerNode: 0, tasksPerNode: 2, tls: {} });
    expect(one).toContain('export MASTER_ADDR=127.0.0.1\n');
    expect(one).toContain('worker --host 127.0.0.1 --bind 127.0.0.1');
    expect(one).not.toContain('gpus');
  });

  it('shellQuote keeps plain words and quotes the rest', () => {
    expect(shellQuote('--lr=3e-3')).toBe('--lr=3e-3');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote('$(rm -rf /)')).toBe("'$(rm -rf /)'");
  });
});
