import 'uplot/dist/uPlot.min.css';
import './style.css';
import type { LiveMessage, TraceStep } from '../src/types';
import { Actions } from './actions';
import { Charts, ema, type XMode } from './charts';
import { CATEGORIES } from './colors';
import { duration, field, num, si } from './format';
import { Store } from './store';
import { renderCheckpoints, renderConfig, renderEvals, renderEvents, renderWorkers } from './tables';
import { Timeline } from './timeline';

/*
 * The dashboard page: one Store fed by the /live WebSocket (a snapshot, then changes), drawn at
 * most every RENDER_MS. Traces are fetched on their own (GET /api/trace?step=N): the latest as
 * it lands while "latest" is selected, or the step chosen.
 */

const RENDER_MS = 250;
const $ = <T extends HTMLElement = HTMLElement>(sel: string): T => {
  const e = document.querySelector<T>(sel);
  if (!e) throw new Error(`${sel} is missing from the page`);
  return e;
};

const store = new Store();
const charts = new Charts(document.body);
const timeline = new Timeline($('#timeline'));
const actions = new Actions(document.body);
let xMode: XMode = 'step';
let alpha = 0.9;

charts.onToggle = () => {
  store.dirty.metrics = true;
  schedule();
};
for (const r of document.querySelectorAll<HTMLInputElement>('input[name="xmode"]')) {
  r.addEventListener('change', () => {
    xMode = r.value as XMode;
    store.dirty.metrics = true;
    schedule();
  });
}
$<HTMLSelectElement>('#smoothing').addEventListener('change', (e) => {
  alpha = Number((e.target as HTMLSelectElement).value);
  store.dirty.metrics = true;
  schedule();
});

$('#tl-legend').replaceChildren(
  ...CATEGORIES.map((c) => {
    const item = document.createElement('span');
    item.className = 'legend-item';
    const sw = document.createElement('i');
    sw.style.background = c.color;
    item.append(sw, c.label);
    return item;
  }),
);

// ---- drawing ----

let renderTimer: number | undefined;
function schedule(): void {
  if (renderTimer !== undefined) return;
  renderTimer = window.setTimeout(() => {
    renderTimer = undefined;
    render();
  }, RENDER_MS);
}

function render(): void {
  const d = store.dirty;
  if (d.header) renderHeader();
  if (d.metrics) {
    const rows = store.metrics.rows();
    const got = charts.render(rows, store.lists.eval, store.config, xMode, alpha);
    $('#card-accuracy').hidden = !got.hasAccuracy;
    $('#flops-note').textContent = got.hasFlops ? 'model FLOP/s from the config: 6 × parameters × tokens + dense causal attention' : 'no model FLOP/s: the config does not say the model size';
    $('#x-note').textContent = xMode === 'time' && !got.xIsClock ? 'training time: the sum of step times (evaluations and restarts not counted)' : '';
    $('#metrics-note').textContent = store.metrics.stride > 1 ? `every ${store.metrics.stride}th step shown` : '';
  }
  if (d.workers) renderWorkers($('#workers'), store.workers);
  if (d.lists) {
    renderCheckpoints($('#checkpoints'), store.lists.checkpoints, store.checkpointDirs, store.omitted.checkpoints ?? 0);
    renderEvents($('#events'), store.lists.events, store.lists, store.omitted.events ?? 0, store.runDir);
    renderEvals($('#evals'), store.lists.eval);
  }
  if (d.config) renderConfig($('#config-summary'), $('#config-json'), store.config);
  if (d.trace) renderTraceChoice();
  store.dirty = { metrics: false, lists: false, workers: false, config: false, trace: false, header: false };
}

function renderHeader(): void {
  const name = store.runDir.split('/').filter(Boolean).pop() ?? store.runDir;
  $('#run-name').textContent = name;
  $('#run-name').title = store.runDir;
  document.title = `${name} · ringtrain`;
  const status = store.status();
  const pill = $('#status');
  pill.textContent = status.label;
  pill.className = `pill pill-status-${status.kind}`;
  actions.setEnabled(
    store.readOnly
      ? `read-only: this dashboard serves ${store.runDir} from its files and cannot reach the run`
      : status.kind === 'running' || status.kind === 'waiting'
        ? null
        : `the run is ${status.label}`,
  );
  $('#readonly').hidden = !store.readOnly;

  const last = store.metrics.last;
  const total = store.totalSteps();
  const rows = store.metrics.rows();
  const recent = rows.slice(-20);
  const stepMs = recent.length ? recent.reduce((a, r) => a + (field(r, 'stepMs') ?? 0), 0) / recent.length : null;
  const losses = ema(rows.map((r) => field(r, 'loss')), alpha);
  const kpi = (id: string, value: string, title = '') => {
    const e = $(`#kpi-${id} b`);
    e.textContent = value;
    e.title = title;
  };
  kpi('step', last ? `${last.step}${total ? ` / ${total}` : ''}` : '—');
  kpi('loss', num(losses[losses.length - 1] ?? null), last ? `last step: ${num(field(last, 'loss'))}` : '');
  kpi('tokens', last ? `${si(field(last, 'tokensPerSec'))} tok/s` : '—');
  kpi('steptime', duration(stepMs), 'mean of the last 20 steps shown');
  const remaining = last && total && stepMs !== null && status.kind === 'running' ? (total - last.step) * stepMs : null;
  kpi('eta', remaining === null ? '—' : duration(remaining));
  const restarts = new Set(store.lists.restarts.filter((r) => 'of' in r).map((r) => r.restart)).size;
  $('#kpi-restarts').hidden = restarts === 0;
  kpi('restarts', String(restarts));
  $<HTMLElement>('#progress-bar').style.width = last && total ? `${Math.min(100, (100 * last.step) / total)}%` : '0';
  const problems = $('#problems');
  problems.hidden = store.problems.length === 0;
  problems.textContent = store.problems.length ? `Could not read everything: ${store.problems.slice(-3).join('; ')}` : '';
}

// ---- traces ----

let traceWanted: number | 'latest' = 'latest';
let traceShown: number | null = null;
let traceLoading = 0;

function renderTraceChoice(): void {
  const select = $<HTMLSelectElement>('#trace-step');
  const steps = store.traceSteps;
  const options = [new Option(steps.length ? `latest (step ${steps[steps.length - 1]})` : 'latest', 'latest')];
  for (const s of steps.slice(-500).reverse()) options.push(new Option(`step ${s}`, String(s)));
  select.replaceChildren(...options);
  select.value = String(traceWanted);
  select.disabled = steps.length === 0;
  $('#trace-download').hidden = steps.length === 0;
  if (steps.length === 0) {
    timeline.show(null, 'No traced steps in this run: trace.jsonl is absent or empty.');
    return;
  }
  const want = traceWanted === 'latest' ? steps[steps.length - 1] : traceWanted;
  if (want !== traceShown) void loadTrace(want);
}

$<HTMLSelectElement>('#trace-step').addEventListener('change', (e) => {
  const v = (e.target as HTMLSelectElement).value;
  traceWanted = v === 'latest' ? 'latest' : Number(v);
  store.dirty.trace = true;
  schedule();
});

async function loadTrace(step: number): Promise<void> {
  const ticket = ++traceLoading;
  try {
    const res = await fetch(`/api/trace?step=${step}`);
    const body = (await res.json()) as TraceStep | { message: string };
    if (ticket !== traceLoading) return; // a newer request went out meanwhile
    if (!res.ok || !('ranks' in body)) {
      timeline.show(null, `step ${step}: ${'message' in body ? body.message : res.statusText}`);
      return;
    }
    traceShown = step;
    timeline.show(body);
  } catch (e) {
    if (ticket === traceLoading) timeline.show(null, `could not load the trace of step ${step}: ${(e as Error).message}`);
  }
}

// ---- live connection ----

let backoffMs = 500;
function connect(): void {
  const conn = $('#conn');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live`);
  ws.onopen = () => {
    backoffMs = 500;
    conn.textContent = 'live';
    conn.className = 'conn conn-live';
  };
  ws.onmessage = (ev) => {
    let m: LiveMessage;
    try {
      m = JSON.parse(String(ev.data)) as LiveMessage;
    } catch {
      return;
    }
    if (m.type === 'snapshot') traceShown = null;
    store.apply(m);
    schedule();
  };
  ws.onclose = () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn conn-down';
    window.setTimeout(connect, backoffMs);
    backoffMs = Math.min(10_000, backoffMs * 2);
  };
}
connect();
// "last seen" and ETA age: redraw the parts that say how long ago.
window.setInterval(() => {
  store.dirty.workers = store.dirty.header = true;
  schedule();
}, 5000);
