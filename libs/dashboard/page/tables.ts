import type { Row } from '../src/types';
import { ago, bytes, clock, duration, field, num, percent, si, text } from './format';

type Cell = string | Node | { text: string; cls?: string; title?: string };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, content?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (content !== undefined) e.textContent = content;
  return e;
}

/** A table with a header row; numeric columns (by class `num`) right-aligned. */
function table(head: Array<string | { text: string; cls: string }>, rows: Array<{ cells: Cell[]; attrs?: Record<string, string> }>): HTMLTableElement {
  const t = el('table', 'data');
  const tr = el('tr');
  for (const h of head) tr.append(typeof h === 'string' ? el('th', undefined, h) : el('th', h.cls, h.text));
  t.append(el('thead'), el('tbody'));
  t.tHead!.append(tr);
  for (const r of rows) {
    const row = el('tr');
    for (const [k, v] of Object.entries(r.attrs ?? {})) row.setAttribute(k, v);
    r.cells.forEach((c, i) => {
      const td = el('td');
      const h = head[i];
      if (typeof h !== 'string') td.className = h.cls;
      if (typeof c === 'string') td.textContent = c;
      else if (c instanceof Node) td.append(c);
      else {
        td.textContent = c.text;
        if (c.cls) td.classList.add(...c.cls.split(' '));
        if (c.title) td.title = c.title;
      }
      row.append(td);
    });
    t.tBodies[0].append(row);
  }
  return t;
}

function pill(label: string, kind: string, title?: string): HTMLElement {
  const p = el('span', `pill pill-${kind}`, label);
  if (title) p.title = title;
  return p;
}

function empty(message: string): HTMLElement {
  return el('p', 'empty', message);
}

const WORKER_STATE_KIND: Record<string, string> = { ready: 'ok', busy: 'ok', starting: 'wait', rejoining: 'wait', lost: 'bad', done: 'done', stopped: 'idle' };

export function renderWorkers(root: HTMLElement, workers: Row[] | null): void {
  if (workers === null || workers.length === 0) {
    root.replaceChildren(empty('No worker table yet: the run writes workers.json once its workers have joined.'));
    return;
  }
  const sorted = [...workers].sort((a, b) => (field(a, 'rank') ?? 0) - (field(b, 'rank') ?? 0));
  const n = { text: '', cls: 'num' };
  root.replaceChildren(
    table(
      [{ ...n, text: 'rank' }, 'host', { ...n, text: 'pid' }, 'device', 'backend', 'state', { ...n, text: 'memory (RSS)' }, { ...n, text: 'tokens/s' }, 'last seen', { ...n, text: 'restarts' }],
      sorted.map((w) => {
        const state = text(w, 'state') || 'unknown';
        return {
          attrs: { 'data-rank': text(w, 'rank') },
          cells: [
            text(w, 'rank'),
            text(w, 'host'),
            text(w, 'pid'),
            text(w, 'device') || '—',
            text(w, 'backend') || '—',
            pill(state, WORKER_STATE_KIND[state] ?? 'idle'),
            bytes(field(w, 'rssBytes')),
            si(field(w, 'tokensPerSec')),
            { text: ago(w.lastSeen), title: clock(w.lastSeen) },
            text(w, 'restarts') || '0',
          ],
        };
      }),
    ),
  );
}

/** A checkpoint's state: the newest one on disk is the one a resume takes; older ones are pruned (--keep-last). */
export function renderCheckpoints(root: HTMLElement, rows: Row[], onDisk: string[] | null, omitted: number): void {
  if (rows.length === 0) {
    root.replaceChildren(empty('No checkpoints yet (--checkpoint-every N saves one every N steps; Ctrl-C and the end of the run save one too).'));
    return;
  }
  const disk = new Set(onDisk ?? []);
  const newestOnDisk = [...rows].reverse().find((r) => disk.has(basename(text(r, 'dir'))));
  const n = { text: '', cls: 'num' };
  const body = [...rows].reverse().map((r) => {
    const name = basename(text(r, 'dir'));
    const state = r === newestOnDisk ? pill('latest', 'ok', 'a resume starts from this one') : onDisk === null || disk.has(name) ? pill('kept', 'done') : pill('pruned', 'idle', 'removed (--keep-last)');
    const reason = text(r, 'reason');
    return {
      cells: [
        text(r, 'step'),
        { text: clock(r.time), title: text(r, 'time') },
        bytes(field(r, 'bytes')),
        { text: duration(field(r, 'heldMs')), title: `training held while the state was copied; written in ${duration(field(r, 'writeMs'))}` },
        { text: reason, cls: 'muted' },
        state,
      ],
    };
  });
  const t = table([{ ...n, text: 'step' }, 'time', { ...n, text: 'size' }, { ...n, text: 'held' }, 'why', 'state'], body);
  root.replaceChildren(...(omitted > 0 ? [el('p', 'muted', `${omitted} older checkpoints not shown`)] : []), t);
}

export function renderEvals(root: HTMLElement, rows: Row[]): void {
  if (rows.length === 0) {
    root.replaceChildren(empty('No held-out evaluation yet (--eval-every N; always at the end of the run).'));
    return;
  }
  const n = { text: '', cls: 'num' };
  const hasPasskey = rows.some((r) => field(r, 'passkeyAccuracy') !== null);
  const hasBpb = rows.some((r) => field(r, 'bitsPerByte') !== null);
  const head = [{ ...n, text: 'step' }, { ...n, text: 'loss' }, ...(hasBpb ? [{ ...n, text: 'bits/byte' }] : []), ...(hasPasskey ? [{ ...n, text: 'passkey acc.' }] : []), { ...n, text: 'sequences' }];
  root.replaceChildren(
    table(
      head,
      [...rows].reverse().map((r) => ({
        cells: [text(r, 'step'), num(field(r, 'loss'), 4), ...(hasBpb ? [num(field(r, 'bitsPerByte'), 4)] : []), ...(hasPasskey ? [percent(field(r, 'passkeyAccuracy'))] : []), text(r, 'sequences') || text(r, 'samples')],
      })),
    ),
  );
}

const EVENT_KIND: Record<string, string> = { start: 'done', world: 'done', resumed: 'done', checkpoint: 'ok', eval: 'done', notice: 'wait', restart: 'bad', failure: 'bad', signal: 'wait', stopped: 'idle', done: 'ok' };

/**
 * The run's story, newest first: events.jsonl, or where a run has none (written before it
 * existed) what checkpoints, evaluations and restarts say.
 */
export function renderEvents(root: HTMLElement, events: Row[], derived: { checkpoints: Row[]; eval: Row[]; restarts: Row[] }, omitted: number, runDir: string): void {
  // Paths inside the run directory read relative to it: "saved checkpoints/step-000040 (…)".
  const message = (e: Row) => (runDir ? text(e, 'message').split(`${runDir}/`).join('') : text(e, 'message'));
  let rows = events;
  if (rows.length === 0) {
    rows = [
      ...derived.checkpoints.map((c) => ({ time: c.time, kind: 'checkpoint', step: c.step, message: `saved ${basename(text(c, 'dir'))} (${text(c, 'reason')})` })),
      ...derived.eval.map((e) => ({ kind: 'eval', step: e.step, message: `held-out loss ${num(field(e, 'loss'), 4)}${field(e, 'passkeyAccuracy') !== null ? `, passkey accuracy ${percent(field(e, 'passkeyAccuracy'))}` : ''}` })),
      ...derived.restarts.filter((r) => 'reason' in r).map((r) => ({ time: r.failedAt, kind: 'restart', message: `restart ${text(r, 'restart')} of ${text(r, 'of')}: ${text(r, 'reason')}` })),
    ];
    rows.sort((a, b) => (field(a, 'step') ?? 0) - (field(b, 'step') ?? 0));
  }
  if (rows.length === 0) {
    root.replaceChildren(empty('No events yet.'));
    return;
  }
  const list = el('ol', 'events');
  for (const e of [...rows].reverse()) {
    const li = el('li');
    const kind = text(e, 'kind') || 'event';
    li.dataset.kind = kind;
    li.append(el('span', 'ev-time', typeof e.time === 'string' ? clock(e.time) : ''), pill(kind, EVENT_KIND[kind] ?? 'idle'), el('span', 'ev-step', field(e, 'step') !== null ? `step ${text(e, 'step')}` : ''), el('span', 'ev-msg', message(e)));
    li.title = typeof e.time === 'string' ? e.time : '';
    list.append(li);
  }
  root.replaceChildren(...(omitted > 0 ? [el('p', 'muted', `${omitted} older events not shown`)] : []), list);
}

/** The run's config: the few fields that say what it is, then the whole of config.json. */
export function renderConfig(summaryEl: HTMLElement, jsonEl: HTMLElement, config: Row | null): void {
  if (config === null) {
    summaryEl.textContent = 'config.json is missing';
    jsonEl.textContent = '';
    return;
  }
  const m = (config.model ?? {}) as Row;
  const optim = (config.optim ?? {}) as Row;
  const parts = [
    `${text(config, 'workers')} workers`,
    text(config, 'strategy'),
    `seq ${text(config, 'seqLen')} × batch ${text(config, 'batchSize')}`,
    `${text(config, 'totalSteps') || text(config, 'steps')} steps`,
    `model d${text(m, 'dModel')} × ${text(m, 'layers')} layers, ${text(m, 'heads')}×${text(m, 'headDim')} heads${field(m, 'kvHeads') !== field(m, 'heads') ? ` (${text(m, 'kvHeads')} kv)` : ''}`,
    `data ${Array.isArray(config.data) ? config.data.join(', ') : text(config, 'data')}`,
    `lr ${num(field(optim, 'lr') ?? field(config, 'lr'))}`,
    `backend ${text(config, 'backend')}`,
  ];
  summaryEl.textContent = parts.filter((p) => !/undefined|^\s*$/.test(p)).join(' · ');
  jsonEl.textContent = JSON.stringify(config, null, 2);
}

function basename(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).pop() ?? p;
}
