import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createLogger } from '@ringtrain/core';
import { startDashboard, type Dashboard } from '@ringtrain/dashboard';
import { CLI } from './testing/cli';

/*
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a live
 * 2-worker run: `ringtrain train` in its own process, `ringtrain dashboard RUN_DIR` (read-only,
 * from the files) and a live dashboard server as the coordinator hosts it, with the run's job
 * secret and actions that reach the run as its signals do (SIGUSR1: checkpoint, SIGTERM: stop).
 * Screenshots go to apps/cli/test/output/dashboard/.
 */

const CHROMIUM = process.env.RINGTRAIN_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = resolve(__dirname, 'output/dashboard');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`dashboard browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set RINGTRAIN_CHROMIUM)`);
const maybe = haveChromium ? describe : describe.skip;

function lines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith('}'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

async function until<T>(what: string, f: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `ringtrain dashboard DIR`: its URL from stdout. */
async function serveFromFiles(runDir: string): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null>; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, 'dashboard', runDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const url = await until('the dashboard URL', () => /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1], 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\nstdout: ${out}\nstderr: ${err}`);
  });
  return { child, url, exited, stderr: () => err };
}

const points = (page: Page, chart: string) => page.locator(`#chart-${chart}`).getAttribute('data-points').then((v) => Number(v ?? 0));

maybe('dashboard (browser, live 2-worker run)', () => {
  let browser: Browser;
  let train: ChildProcess | null = null;
  let trainExit: Promise<number | null>;
  let trainOut = '';
  let live: Dashboard | null = null;
  let fromFiles: Awaited<ReturnType<typeof serveFromFiles>> | null = null;
  const runDir = join(mkdtempSync(join(tmpdir(), 'ringtrain-dash-e2e-')), 'run');

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
    // Long enough to outlast the test; it ends when the test presses "Stop gracefully".
    train = spawn(process.execPath, [CLI, 'train', '--workers', '2', '--model', 'tiny', '--seq-len', '256', '--steps', '3000', '--checkpoint-every', '20', '--run-dir', runDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    train.stdout!.on('data', (d) => (trainOut += d));
    train.stderr!.on('data', (d) => (trainOut += d));
    trainExit = new Promise((r) => train!.on('close', (code) => r(code)));
    await until('config.json and .secret', () => existsSync(join(runDir, 'config.json')) && existsSync(join(runDir, '.secret')), 60_000);
  });

  afterAll(async () => {
    await browser?.close();
    await live?.close();
    if (fromFiles && fromFiles.child.exitCode === null) fromFiles.child.kill('SIGKILL');
    if (train && train.exitCode === null) train.kill('SIGKILL');
  });

  it('serves a running run read-only from its files: charts grow as steps land, both workers, a ring timeline', async () => {
    fromFiles = await serveFromFiles(runDir);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(fromFiles.url);

    const first = await until('loss points', async () => (await points(page, 'loss')) > 0 && points(page, 'loss'));
    const later = await until('more loss points as steps land', async () => {
      const n = await points(page, 'loss');
      return n > first && n;
    });
    expect(later).toBeGreaterThan(first);
    for (const chart of ['lr', 'grad', 'throughput', 'split']) expect(await points(page, chart)).toBeGreaterThan(0);
    await until('the status "running"', async () => (await page.locator('#status').textContent()) === 'running');

    // Both ranks in the worker table (workers.json).
    await until('both ranks in the worker table', async () => (await page.locator('#workers tr[data-rank]').count()) === 2);
    expect(await page.locator('#workers tr[data-rank]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-rank')))).toEqual(['0', '1']);

    // The ring timeline of a traced step: one lane per rank, kernel and transfer spans.
    const tl = page.locator('#timeline');
    await until('a traced step on the timeline', async () => (await tl.getAttribute('data-lanes')) === '2', 60_000);
    expect(Number(await tl.getAttribute('data-kernel-spans'))).toBeGreaterThan(0);
    expect(Number(await tl.getAttribute('data-transfer-spans'))).toBeGreaterThan(0);
    expect(await page.locator('.tl-lane-label').evaluateAll((els) => els.map((e) => e.getAttribute('data-rank')))).toEqual(['0', '1']);
    expect(await page.locator('.tl-lane-label .tl-overlap').first().textContent()).toMatch(/^overlap \d+(\.\d)?%$/);

    // Read-only: the buttons are disabled and the server refuses the actions, saying why.
    expect(await page.locator('#btn-checkpoint').isDisabled()).toBe(true);
    expect(await page.locator('#readonly').isVisible()).toBe(true);
    const refused = await page.evaluate(async () => {
      const r = await fetch('/api/actions/checkpoint', { method: 'POST', headers: { 'x-ringtrain-secret': 'anything' } });
      return { status: r.status, body: await r.json() };
    });
    expect(refused).toEqual({ status: 403, body: { ok: false, message: 'read-only: served from files' } });

    await page.screenshot({ path: join(SHOTS, 'live-read-only.png'), fullPage: true });
    await tl.screenshot({ path: join(SHOTS, 'ring-timeline.png') });
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it('on the live server, "Checkpoint now" is refused without the job secret and carried out with it; "Stop gracefully" stops the run', async () => {
    const secret = readFileSync(join(runDir, '.secret'), 'utf8').trim();
    live = await startDashboard({
      runDir,
      secret,
      // What the coordinator's actions do, reached here through `train` (it forwards both).
      actions: { checkpoint: () => train!.kill('SIGUSR1'), stop: () => train!.kill('SIGTERM') },
      logger: createLogger({ name: 'dashboard-e2e', level: 'warn' }),
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(live.url);
    await until('live data', async () => (await points(page, 'loss')) > 0);
    expect(await page.locator('#btn-checkpoint').isDisabled()).toBe(false);
    const answer = page.locator('#action-answer');

    // Without the secret (an empty answer to the dialog): refused, nothing happens.
    const before = lines(join(runDir, 'checkpoints.jsonl')).length;
    await page.click('#btn-checkpoint');
    await page.locator('#secret-dialog input').fill('');
    await page.click('#secret-dialog button[value="send"]');
    await until('the refusal', async () => /401: wrong or missing job secret/.test((await answer.textContent()) ?? ''));
    expect(await answer.getAttribute('class')).toMatch(/\bbad\b/);

    // With it: asked for between two scheduled checkpoints (every 20 steps), so the one it makes
    // is its own.
    const lastStep = () => Number(lines(join(runDir, 'metrics.jsonl')).pop()?.step ?? 0);
    await until('a step between scheduled checkpoints', () => [3, 4, 5, 6, 7, 8, 9, 10, 11, 12].includes(lastStep() % 20), 60_000);
    const askedAt = lastStep();
    await page.click('#btn-checkpoint');
    await page.locator('#secret-dialog input').fill(secret);
    await page.click('#secret-dialog button[value="send"]');
    await until('the acceptance', async () => /202: checkpoint requested/.test((await answer.textContent()) ?? ''));
    const made = await until('the checkpoint asked for', () => lines(join(runDir, 'checkpoints.jsonl')).find((c) => typeof c.step === 'number' && c.step > askedAt && c.step % 20 !== 0), 60_000);
    expect(lines(join(runDir, 'checkpoints.jsonl')).length).toBeGreaterThan(before);
    await until('the checkpoint in the page', async () => (await page.locator('#checkpoints td').allTextContents()).includes(String(made.step)), 10_000);
    await page.screenshot({ path: join(SHOTS, 'live-checkpoint.png'), fullPage: true });

    // The secret is kept for this tab: "Stop gracefully" asks only to confirm.
    page.once('dialog', (d) => void d.accept());
    await page.click('#btn-stop');
    await until('the stop acceptance', async () => /202: stop requested/.test((await answer.textContent()) ?? ''));
    expect(await trainExit).toBe(0);
    expect(trainOut).not.toMatch(/internal error/);
    await until('the status "stopped"', async () => (await page.locator('#status').textContent()) === 'stopped', 20_000);
    expect((await page.locator('#events li').first().getAttribute('data-kind')) ?? '').toMatch(/stopped|done/);
    await page.screenshot({ path: join(SHOTS, 'live-stopped.png'), fullPage: true });
    await page.close();

    // `ringtrain dashboard` ends on Ctrl-C with exit 0.
    fromFiles!.child.kill('SIGINT');
    expect(await fromFiles!.exited).toBe(0);
  }, 240_000);
});
