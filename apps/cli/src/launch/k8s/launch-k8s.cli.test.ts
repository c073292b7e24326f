/* `ringtrain launch k8s` run as a user runs it: the built CLI (npm run bundle), its stdout read as kubectl reads it. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import { runCli } from '../../../test/testing/cli';
import { flagValue, onlyContainer, parseYamlStream, validateKubeObject } from './testing/kube';

describe('ringtrain launch k8s', () => {
  it('prints valid manifests of a 2-worker job that hands the train flags to the coordinator', async () => {
    const r = await runCli(['launch', 'k8s', '--workers', '2', '--', '--model', 'tiny', '--steps', '3']);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(0);
    const docs = parseYamlStream(r.stdout);
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'PersistentVolumeClaim', 'Service', 'Service', 'Job', 'Job']);
    for (const doc of docs) validateKubeObject(doc);
    const [coordinator, workers] = docs.slice(4) as unknown as IJob[];
    const args = onlyContainer(coordinator).args!;
    expect(args.slice(0, 1)).toEqual(['coordinator']);
    expect(args.slice(-4)).toEqual(['--model', 'tiny', '--steps', '3']);
    expect(flagValue(args, '--workers')).toBe('2');
    expect(workers.spec).toMatchObject({ completionMode: 'Indexed', completions: 2, parallelism: 2 });
    // stdout is a pipe here, not a terminal: no note about the secret, only the follow-up line.
    expect(r.stderr).not.toContain('pipe it to');
    expect(r.stderr).toMatch(/job ringtrain-[0-9a-f]{6} \(2 workers/);
  });

  it('refuses a name that is not a DNS label, with exit 2, the rule and an example', async () => {
    const r = await runCli(['launch', 'k8s', '--name', 'My_Job', '--', '--model', 'tiny']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[BAD_OPTION] --name "My_Job" is not a valid job name');
    expect(r.stderr).toContain('DNS-1123');
    expect(r.stderr).toContain('e.g. ringtrain-passkey');
  });

  it('refuses train flags given before --, with exit 2', async () => {
    const r = await runCli(['launch', 'k8s', '--model', 'tiny']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--model'");
  });

  it('--out writes one file per object, mode 0600, and never over an earlier job\'s', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ringtrain-k8s-')), 'manifests');
    try {
      const r = await runCli(['launch', 'k8s', '--name', 'rt-out', '--gpus-per-worker', '0', '--out', dir, '--', '--model', 'tiny']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
      const files = readdirSync(dir).sort();
      expect(files).toHaveLength(6);
      for (const file of files) {
        expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
        const [doc] = parseYamlStream(readFileSync(join(dir, file), 'utf8'));
        validateKubeObject(doc);
      }
      expect(statSync(dir).mode & 0o077).toBe(0);
      const again = await runCli(['launch', 'k8s', '--name', 'rt-out2', '--out', dir]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('[OUT_EXISTS]');
      expect(readFileSync(join(dir, files[0]), 'utf8')).toContain('rt-out-secret');
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });
});
