import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './testing/cli';

/** `ringtrain dashboard` refusals: each names the problem and the fix, exit 2, no stack trace. */
describe('ringtrain dashboard refuses what it cannot serve', () => {
  it('a directory without a run (no config.json)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-dash-cli-'));
    const r = await runCli(['dashboard', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\[NOT_A_RUN\] .* holds no run: .*config\.json does not exist/);
    expect(r.stderr).toMatch(/hint: .*--run-dir/);
    const missing = await runCli(['dashboard', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/\[NOT_A_RUN\] .*nope does not exist/);
  });

  it('a port in use, naming the port and the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-dash-cli-'));
    writeFileSync(join(dir, 'config.json'), '{}');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await runCli(['dashboard', dir, '--port', String(port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`\\[DASHBOARD_PORT_IN_USE\\] .*127\\.0\\.0\\.1:${port}: port ${port} is in use`));
      expect(r.stderr).toMatch(/hint: pass another port \(--port \d+\), or --port 0 for any free one/);
      expect(r.stderr).not.toMatch(/internal error|at .*\.ts:\d+/);
    } finally {
      holder.close();
    }
    const bad = await runCli(['dashboard', dir, '--port', '70000']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--port 70000 is not valid/);
  });
});

describe('the live dashboard never costs the run', () => {
  it('a dashboard port in use: train says so and trains anyway', async () => {
    const busy = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => busy.once('listening', r));
    const port = String((busy.address() as { port: number }).port);
    try {
      const runDir = join(mkdtempSync(join(tmpdir(), 'ringtrain-dash-busy-')), 'run');
      const run = await runCli(['train', '--workers', '2', '--model', 'tiny', '--seq-len', '128', '--steps', '3', '--eval-samples', '1', '--backend', 'native', '--dashboard-port', port, '--run-dir', runDir], {}, 180000);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`no live dashboard: .*${port}[\\s\\S]*the run goes on`));
      expect(run.stdout).toMatch(/step\s+3\/3/);
    } finally {
      busy.close();
    }
  }, 200000);
});
