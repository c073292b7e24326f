import { runCli } from './testing/cli';

/**
 * Bulk state in bounded chunks, between two real processes: a 600 MiB parameter set goes from a
 * worker to the coordinator (get-state) and back (set-state) in frames of at most 16 MiB — a
 * larger frame would close the connection — and the receiving process grows by the state plus a
 * few chunks, not by a second copy of it.
 */
it('moves a 600 MiB parameter set in 16 MiB frames; the receiver holds the state plus a few chunks', async () => {
  const run = await runCli(['bench', 'state', '--mib', '600', '--max-frame-mib', '16', '--json'], {}, 600000);
  expect(run.stderr).not.toMatch(/internal error/);
  expect(run.code).toBe(0);
  const r = JSON.parse(run.stdout);
  const MiB = 2 ** 20;
  expect(r.stateBytes).toBeGreaterThanOrEqual(600 * MiB);
  expect(r.maxFrameBytes).toBe(16 * MiB);
  expect(r.hashOk).toBe(true);
  const grew = r.receiverPeakRssBytes - r.receiverRssBeforeBytes;
  expect(grew).toBeGreaterThanOrEqual(r.stateBytes * 0.95); // it really did receive the state
  expect(grew).toBeLessThanOrEqual(r.stateBytes + 6 * 16 * MiB);
}, 600000);
