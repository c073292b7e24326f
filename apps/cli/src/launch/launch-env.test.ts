import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLaunchEnv, readSecret, slurmPort } from '../launch-env';
import { firstHost } from './nodelist';

describe('firstHost: the first host of a Slurm host list', () => {
  it.each([
    ['node1', 'node1'],
    ['gpu[07-09,12]', 'gpu07'],
    ['gpu[12,07-09]', 'gpu12'],
    ['login1,gpu[1-4]', 'login1'],
    ['gpu[1-4],login1', 'gpu1'],
    ['rack[1-2]-n[03-04]', 'rack1-n03'],
    ['a-b.example.org', 'a-b.example.org'],
  ])('%s → %s', (list, host) => {
    expect(firstHost(list)).toBe(host);
  });

  it.each([['gpu[1-4'], ['gpu]1['], ['gpu[a-b]'], [''], ['gpu[[1]]']])('refuses %j, naming MASTER_ADDR as the way around', (list) => {
    expect(() => firstHost(list)).toThrow(expect.objectContaining({ code: 'BAD_NODELIST', hint: expect.stringContaining('MASTER_ADDR') }));
  });
});

describe('readLaunchEnv', () => {
  it('torchrun\'s variables', () => {
    expect(readLaunchEnv({ RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '4', MASTER_ADDR: 'n0', MASTER_PORT: '29500' })).toEqual({
      rank: 3, worldSize: 8, localRank: 1, localWorldSize: 4, coordinatorUrl: 'ws://n0:29500', jobId: undefined,
    });
  });

  it('Slurm\'s: the coordinator on the first host of the node list, its port from the job id', () => {
    const env = readLaunchEnv({ SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1', SLURM_JOB_NODELIST: 'gpu[03-04]', SLURM_JOB_ID: '4711' });
    expect(env).toMatchObject({ rank: 5, worldSize: 8, localRank: 1, coordinatorUrl: `ws://gpu03:${slurmPort(4711)}`, jobId: '4711' });
    expect(slurmPort(4711)).toBe(24711);
    expect(slurmPort(24711)).toBe(24711);
    expect(slurmPort(40000)).toBe(20000);
  });

  it('a Kubernetes Indexed Job\'s: the rank from JOB_COMPLETION_INDEX, one worker (and GPU) per pod', () => {
    expect(readLaunchEnv({ JOB_COMPLETION_INDEX: '2', WORLD_SIZE: '4', MASTER_ADDR: 'c.ns.svc', MASTER_PORT: '29500', RINGTRAIN_JOB_ID: 'rt-1' }, 'wss')).toMatchObject({
      rank: 2, worldSize: 4, localRank: 0, coordinatorUrl: 'wss://c.ns.svc:29500', jobId: 'rt-1',
    });
  });

  it('torchrun\'s names win over Slurm\'s; MASTER_ADDR over the node list', () => {
    expect(readLaunchEnv({ RANK: '1', SLURM_PROCID: '0', WORLD_SIZE: '2', SLURM_NTASKS: '2', MASTER_ADDR: 'here', MASTER_PORT: '1234', SLURM_JOB_NODELIST: 'there', SLURM_JOB_ID: '9' })).toMatchObject({
      rank: 1, coordinatorUrl: 'ws://here:1234',
    });
  });

  it.each([
    [{ WORLD_SIZE: '2' }, /none of RANK, SLURM_PROCID, JOB_COMPLETION_INDEX/],
    [{ RANK: '2', WORLD_SIZE: '2' }, /RANK 2 is not below WORLD_SIZE 2/],
    [{ RANK: '-1', WORLD_SIZE: '2' }, /RANK="-1" is not a non-negative integer/],
    [{ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000' }, /MASTER_PORT=70000 is not a port/],
  ])('refuses %j', (env, message) => {
    expect(() => readLaunchEnv(env)).toThrow(message);
  });
});

describe('readSecret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-secret-'));
  const file = (name: string, text: string, mode: number) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    chmodSync(path, mode);
    return path;
  };

  it('reads RINGTRAIN_SECRET, else the file', () => {
    expect(readSecret({ RINGTRAIN_SECRET: 'from-env' }, 'x')).toBe('from-env');
    expect(readSecret({ RINGTRAIN_SECRET_FILE: file('ok', 'a-long-enough-secret\n', 0o600) }, 'x')).toBe('a-long-enough-secret');
  });

  it.each([
    ['readable by others', () => file('open', 'a-long-enough-secret\n', 0o640), 'SECRET_FILE_OPEN'],
    ['empty', () => file('empty', '\n', 0o600), 'SECRET_FILE'],
    ['missing', () => join(dir, 'missing'), 'SECRET_FILE'],
  ])('refuses a file %s', (_, path, code) => {
    expect(() => readSecret({ RINGTRAIN_SECRET_FILE: path() }, 'x')).toThrow(expect.objectContaining({ code }));
  });

  it('refuses no secret at all, naming both variables', () => {
    expect(() => readSecret({}, 'the worker')).toThrow(/RINGTRAIN_SECRET nor RINGTRAIN_SECRET_FILE/);
  });
});
