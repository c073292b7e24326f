import { RingtrainError } from '@ringtrain/core';
import { K8S_DEFAULTS, k8sJobFrom, type K8sLaunchFlags } from './options';

function job(flags: Partial<K8sLaunchFlags> = {}, trainFlags: string[] = []) {
  return k8sJobFrom({ ...K8S_DEFAULTS, ...flags }, trainFlags);
}

function refusal(flags: Partial<K8sLaunchFlags>, trainFlags: string[] = []): RingtrainError {
  try {
    job(flags, trainFlags);
  } catch (err) {
    if (err instanceof RingtrainError) return err;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(flags)} ${trainFlags.join(' ')}`);
}

describe('launch k8s options', () => {
  it('default to 2 workers with one GPU each, ringtrain:latest, 20Gi in namespace default, under a fresh name', () => {
    const a = job();
    expect(a).toMatchObject({ workers: 2, gpusPerWorker: 1, image: 'ringtrain:latest', storage: '20Gi', namespace: 'default', storageClass: null, tlsSecret: null, trainFlags: [] });
    expect(a.name).toMatch(/^ringtrain-[0-9a-f]{6}$/);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('draw a fresh 48-hex-character secret (and name) for every job', () => {
    const a = job();
    const b = job();
    expect(a.secret).toMatch(/^[0-9a-f]{48}$/);
    expect(b.secret).not.toBe(a.secret);
    expect(b.name).not.toBe(a.name);
  });

  it('take what they are given', () => {
    const j = job({ workers: '16', gpusPerWorker: '0', image: 'registry.example.com/ringtrain:1.0', storageClass: 'fast-ssd', storage: '500Gi', namespace: 'training', name: 'passkey-16k', tlsSecret: 'ringtrain-tls' }, ['--model', 'passkey']);
    expect(j).toMatchObject({ workers: 16, gpusPerWorker: 0, image: 'registry.example.com/ringtrain:1.0', storageClass: 'fast-ssd', storage: '500Gi', namespace: 'training', name: 'passkey-16k', tlsSecret: 'ringtrain-tls', trainFlags: ['--model', 'passkey'] });
  });

  it.each([
    ['--workers 0', { workers: '0' }, /--workers "?0"? is not valid: an integer of at least 1/],
    ['--workers two', { workers: 'two' }, /--workers "two" is not valid/],
    ['--gpus-per-worker -1', { gpusPerWorker: '-1' }, /--gpus-per-worker "?-1"? is not valid: an integer of at least 0/],
    ['--storage 20 GB', { storage: '20 GB' }, /--storage "20 GB" is not valid: a Kubernetes quantity/],
    ['--image with a space', { image: 'ringtrain latest' }, /--image "ringtrain latest" is not valid/],
    ['--namespace Training', { namespace: 'Training' }, /--namespace "Training" is not a Kubernetes namespace name \(a DNS-1123 label\)/],
    ['--storage-class Fast_SSD', { storageClass: 'Fast_SSD' }, /--storage-class "Fast_SSD" is not a Kubernetes object name/],
    ['--tls-secret with a slash', { tlsSecret: 'tls/secret' }, /--tls-secret "tls\/secret" is not a Kubernetes object name/],
  ])('refuse %s, saying what would work', (_label, flags, message) => {
    const err = refusal(flags);
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toMatch(message);
    expect(err.hint).toBeTruthy();
  });

  it.each(['Bad_Name', 'UPPER', '1st-job', 'job-', '-job', 'a.b', 'x'.repeat(41), ''])('refuse the job name %j, naming the DNS rule and a valid example', (name) => {
    const err = refusal({ name });
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toContain('--name');
    expect(err.message).toMatch(/DNS-1123 label|over 40/);
    expect(err.hint).toContain('e.g. ringtrain-passkey');
  });

  it('accept names up to 40 characters that start with a letter', () => {
    expect(job({ name: 'a' }).name).toBe('a');
    expect(job({ name: `r${'0'.repeat(38)}z` }).name).toHaveLength(40);
    expect(job({ name: 'ringtrain-2-passkey' }).name).toBe('ringtrain-2-passkey');
  });

  it.each([['--workers', '4'], ['--run-dir=/tmp/x'], ['--backend', 'native'], ['--overwrite'], ['--resume'], ['--port', '1']])('refuse the train flag %s, which launch k8s sets itself', (...trainFlags) => {
    const err = refusal({}, ['--model', 'tiny', ...trainFlags]);
    expect(err.message).toContain(`the train flag ${trainFlags[0].split('=')[0]} is set by`);
    expect(err.hint).toBeTruthy();
  });

  it('pass any other train flag through untouched', () => {
    const flags = ['--config', 'configs/passkey.json', '--steps', '100', '--data', '/runs/data/corpus', '--max-restarts', '5'];
    expect(job({}, flags).trainFlags).toEqual(flags);
  });
});
