import type { TraceRank, TraceSpan, TraceStep } from '../src/types';
import { CATEGORIES, COLORS } from './colors';
import { duration, field, percent } from './format';

/**
 * The ring timeline of one traced step: a lane per rank, and in each lane one row per kind of
 * work, so what overlaps is seen overlapping: compute (layer segments, attention kernels, the
 * optimizer), sends, receives, the all-reduce and waits. Spans are colored by category and
 * labelled where there is room; hovering one says what it is (layer, hop, phase, peer). Drag to
 * zoom into a time range, double-click to see the whole step again.
 */

interface RowSpec {
  name: string;
  cats: readonly string[];
}
const ROWS: readonly RowSpec[] = [
  { name: 'compute', cats: ['segment', 'kernel', 'optimizer'] },
  { name: 'send', cats: ['send'] },
  { name: 'recv', cats: ['recv'] },
  { name: 'all-reduce', cats: ['allreduce'] },
  { name: 'wait', cats: ['wait'] },
];
const ROW_OF = new Map<string, number>(ROWS.flatMap((r, i) => r.cats.map((c) => [c, i] as [string, number])));
const COLOR_OF = new Map(CATEGORIES.map((c) => [c.cat, c.color]));

const ROW_H = 15;
const ROW_GAP = 3;
const LANE_PAD = 8;
const AXIS_H = 24;

interface Lane {
  rank: TraceRank;
  /** Spans of each shown row, sorted by start. */
  rows: TraceSpan[][];
  step: TraceSpan | null;
  top: number;
  height: number;
}

export class Timeline {
  private readonly canvas: HTMLCanvasElement;
  private readonly labels: HTMLElement;
  private readonly tip: HTMLElement;
  private readonly resetBtn: HTMLButtonElement;
  private readonly caption: HTMLElement;
  private lanes: Lane[] = [];
  private shownRows: number[] = [];
  private t0 = 0;
  private t1 = 1;
  private view: [number, number] = [0, 1];
  private dragFrom: number | null = null;
  private dragTo: number | null = null;

  constructor(private readonly root: HTMLElement) {
    this.canvas = root.querySelector('canvas')!;
    this.labels = root.querySelector('.tl-labels')!;
    this.tip = root.querySelector('.tl-tip')!;
    this.resetBtn = root.querySelector('.tl-reset')!;
    this.caption = root.querySelector('.tl-caption')!;
    new ResizeObserver(() => this.draw()).observe(this.canvas.parentElement!);
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => {
      this.tip.hidden = true;
      if (this.dragFrom !== null) this.endDrag();
    });
    this.canvas.addEventListener('mousedown', (e) => {
      this.dragFrom = this.timeAt(e.offsetX);
      this.dragTo = null;
    });
    this.canvas.addEventListener('mouseup', () => this.endDrag());
    this.canvas.addEventListener('dblclick', () => this.resetZoom());
    this.resetBtn.addEventListener('click', () => this.resetZoom());
  }

  /** Shows a traced step, or a message in its place. */
  show(trace: TraceStep | null, message = ''): void {
    this.root.dataset.step = trace ? String(trace.step) : '';
    if (trace === null) {
      this.lanes = [];
      this.root.dataset.lanes = '0';
      this.labels.replaceChildren();
      this.caption.textContent = message;
      this.draw();
      return;
    }
    let t0 = Infinity;
    let t1 = -Infinity;
    const counts = new Map<string, number>();
    const ranks = [...trace.ranks].sort((a, b) => a.rank - b.rank);
    const used = new Set<number>();
    const lanesRows = ranks.map((rank) => {
      const rows: TraceSpan[][] = ROWS.map(() => []);
      let step: TraceSpan | null = null;
      for (const s of rank.spans ?? []) {
        if (!Number.isFinite(s.ts) || !Number.isFinite(s.dur)) continue;
        t0 = Math.min(t0, s.ts);
        t1 = Math.max(t1, s.ts + s.dur);
        counts.set(s.cat, (counts.get(s.cat) ?? 0) + 1);
        if (s.cat === 'step') {
          step = s;
          continue;
        }
        const row = ROW_OF.get(s.cat) ?? 0;
        rows[row].push(s);
        used.add(row);
      }
      for (const r of rows) r.sort((a, b) => a.ts - b.ts);
      return { rank, rows, step };
    });
    this.shownRows = [...used].sort((a, b) => a - b);
    if (this.shownRows.length === 0) this.shownRows = [0];
    const laneH = LANE_PAD * 2 + this.shownRows.length * (ROW_H + ROW_GAP) - ROW_GAP;
    this.lanes = lanesRows.map((l, i) => ({ ...l, rows: this.shownRows.map((r) => l.rows[r]), top: AXIS_H + i * laneH, height: laneH }));
    if (!Number.isFinite(t0)) {
      t0 = 0;
      t1 = 1;
    }
    const sameStep = this.t0 === t0 && this.t1 === t1;
    this.t0 = t0;
    this.t1 = Math.max(t1, t0 + 1e-3);
    if (!sameStep) this.view = [this.t0, this.t1];
    this.root.dataset.lanes = String(this.lanes.length);
    this.root.dataset.kernelSpans = String(counts.get('kernel') ?? 0);
    this.root.dataset.transferSpans = String((counts.get('send') ?? 0) + (counts.get('recv') ?? 0));
    this.renderLabels(laneH);
    const stepMs = trace.stepMs ?? this.t1 - this.t0;
    const spans = [...counts.values()].reduce((a, b) => a + b, 0);
    const slowest = ranks.reduce<TraceRank | null>((a, r) => ((field(r.summary, 'stepMs') ?? -1) > (field(a?.summary, 'stepMs') ?? -1) ? r : a), null);
    const slowNote = slowest && field(slowest.summary, 'stepMs') !== null && ranks.length > 1 ? ` · slowest: rank ${slowest.rank} (${duration(field(slowest.summary, 'stepMs'))})` : '';
    const dropped = ranks.reduce((a, r) => a + (r.droppedSpans ?? 0), 0);
    const droppedNote = dropped > 0 ? ` · ${dropped.toLocaleString()} spans past the per-rank limit not recorded` : '';
    this.caption.textContent = `step ${trace.step} · ${duration(stepMs)} · ${ranks.length} ranks · ${spans.toLocaleString()} spans${slowNote}${droppedNote}`;
    this.draw();
  }

  private renderLabels(laneH: number): void {
    const els = this.lanes.map((lane) => {
      const s = lane.rank.summary ?? null;
      const el = document.createElement('div');
      el.className = 'tl-lane-label';
      el.dataset.rank = String(lane.rank.rank);
      el.style.height = `${laneH}px`;
      const straggler = s?.straggler === true;
      const overlap = field(s, 'overlap');
      const offset = lane.rank.offsetMs;
      el.title = [`rank ${lane.rank.rank}${lane.rank.host ? ` on ${lane.rank.host}` : ''}`, s ? `step ${duration(field(s, 'stepMs'))}, compute ${duration(field(s, 'computeMs'))}, kernels ${duration(field(s, 'kernelMs'))}, communication ${duration(field(s, 'commMs'))}, waiting ${duration(field(s, 'waitMs'))}` : '', overlap !== null ? `overlap ${percent(overlap)}: the share of communication hidden under compute` : '', typeof offset === 'number' ? `clock offset ${offset.toFixed(2)} ms${typeof lane.rank.offsetErrorMs === 'number' ? ` ± ${lane.rank.offsetErrorMs.toFixed(2)}` : ''} (spans aligned to the coordinator's clock)` : '']
        .filter(Boolean)
        .join('\n');
      const info = document.createElement('div');
      info.className = 'tl-info';
      const head = document.createElement('div');
      head.className = 'tl-rank';
      head.textContent = `rank ${lane.rank.rank}`;
      if (straggler) {
        const badge = document.createElement('span');
        badge.className = 'badge badge-warn';
        badge.textContent = 'straggler';
        badge.title = 'this rank took over 10% longer than the median rank';
        head.append(' ', badge);
      }
      const sub = document.createElement('div');
      sub.className = 'tl-sub';
      sub.textContent = [lane.rank.host, s ? duration(field(s, 'stepMs')) : ''].filter(Boolean).join(' · ');
      const ov = document.createElement('div');
      ov.className = 'tl-overlap';
      ov.textContent = overlap === null ? 'overlap —' : `overlap ${percent(overlap)}`;
      if (overlap !== null && overlap < 0.5) ov.classList.add('bad');
      info.append(head, sub, ov);
      const rowNames = document.createElement('div');
      rowNames.className = 'tl-rows';
      this.shownRows.forEach((r, i) => {
        const n = document.createElement('div');
        n.textContent = ROWS[r].name;
        n.style.top = `${LANE_PAD + i * (ROW_H + ROW_GAP)}px`;
        n.style.height = `${ROW_H}px`;
        rowNames.append(n);
      });
      el.append(info, rowNames);
      return el;
    });
    const spacer = document.createElement('div');
    spacer.style.height = `${AXIS_H}px`;
    this.labels.replaceChildren(spacer, ...els);
  }

  private resetZoom(): void {
    this.view = [this.t0, this.t1];
    this.draw();
  }

  private endDrag(): void {
    if (this.dragFrom !== null && this.dragTo !== null) {
      const a = Math.min(this.dragFrom, this.dragTo);
      const b = Math.max(this.dragFrom, this.dragTo);
      const px = ((b - a) / (this.view[1] - this.view[0])) * this.canvas.clientWidth;
      if (px > 4) this.view = [a, b];
    }
    this.dragFrom = this.dragTo = null;
    this.draw();
  }

  private timeAt(x: number): number {
    const w = this.canvas.clientWidth || 1;
    return this.view[0] + (x / w) * (this.view[1] - this.view[0]);
  }

  private onMove(e: MouseEvent): void {
    if (this.dragFrom !== null) {
      this.dragTo = this.timeAt(e.offsetX);
      this.draw();
      return;
    }
    const hit = this.hit(e.offsetX, e.offsetY);
    if (hit === null) {
      this.tip.hidden = true;
      this.canvas.style.cursor = 'crosshair';
      return;
    }
    const { span, lane } = hit;
    this.canvas.style.cursor = 'default';
    const lines = [`${span.name}`, `${categoryLabel(span.cat)} · rank ${lane.rank.rank}`];
    const where = [span.phase, span.layer !== undefined ? `layer ${span.layer}` : '', span.hop !== undefined ? `hop ${span.hop}` : '', span.peer !== undefined ? `peer ${span.peer}` : ''].filter(Boolean).join(' · ');
    if (where) lines.push(where);
    lines.push(`starts +${duration(span.ts - this.t0)} · takes ${duration(span.dur)}`);
    this.tip.textContent = lines.join('\n');
    this.tip.hidden = false;
    const parent = this.root.getBoundingClientRect();
    const left = e.clientX - parent.left + 14;
    this.tip.style.left = `${Math.min(left, parent.width - 260)}px`;
    this.tip.style.top = `${e.clientY - parent.top + 14}px`;
  }

  private hit(x: number, y: number): { span: TraceSpan; lane: Lane } | null {
    const lane = this.lanes.find((l) => y >= l.top && y < l.top + l.height);
    if (!lane) return null;
    const rowIdx = Math.floor((y - lane.top - LANE_PAD) / (ROW_H + ROW_GAP));
    const rowY = y - lane.top - LANE_PAD - rowIdx * (ROW_H + ROW_GAP);
    if (rowIdx < 0 || rowIdx >= lane.rows.length || rowY > ROW_H) return null;
    const spans = lane.rows[rowIdx];
    const t = this.timeAt(x);
    const slack = (3 / (this.canvas.clientWidth || 1)) * (this.view[1] - this.view[0]);
    // The last span starting at or before t (+slack), then back over any that may still cover t.
    let lo = 0;
    let hi = spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid].ts <= t + slack) lo = mid + 1;
      else hi = mid;
    }
    let best: TraceSpan | null = null;
    for (let i = lo - 1, n = 0; i >= 0 && n < 500; i--, n++) {
      const s = spans[i];
      if (s.ts + s.dur + slack >= t && (best === null || s.dur < best.dur)) best = s;
    }
    return best === null ? null : { span: best, lane };
  }

  draw(): void {
    const c = this.canvas;
    const width = c.parentElement!.clientWidth;
    const height = this.lanes.length === 0 ? 0 : this.lanes[this.lanes.length - 1].top + this.lanes[this.lanes.length - 1].height;
    const dpr = window.devicePixelRatio || 1;
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
    c.width = Math.round(width * dpr);
    c.height = Math.round(height * dpr);
    this.resetBtn.hidden = this.view[0] === this.t0 && this.view[1] === this.t1;
    if (height === 0) return;
    const ctx = c.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const [v0, v1] = this.view;
    const X = (t: number) => ((t - v0) / (v1 - v0)) * width;

    // Lanes: alternate backgrounds, the step's extent, then the spans row by row.
    this.lanes.forEach((lane, i) => {
      ctx.fillStyle = i % 2 === 0 ? '#f9fafb' : '#ffffff';
      ctx.fillRect(0, lane.top, width, lane.height);
      if (lane.step) {
        ctx.fillStyle = COLORS.step;
        ctx.fillRect(X(lane.step.ts), lane.top + 2, Math.max(1, X(lane.step.ts + lane.step.dur) - X(lane.step.ts)), 3);
      }
      ctx.strokeStyle = '#d1d5db';
      ctx.beginPath();
      ctx.moveTo(0, lane.top + 0.5);
      ctx.lineTo(width, lane.top + 0.5);
      ctx.stroke();
    });
    this.drawAxis(ctx, width, height, X);
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (const lane of this.lanes) {
      lane.rows.forEach((spans, r) => {
        const y = lane.top + LANE_PAD + r * (ROW_H + ROW_GAP);
        for (const s of spans) {
          const x0 = X(s.ts);
          const x1 = X(s.ts + s.dur);
          if (x1 < 0 || x0 > width) continue;
          const w = Math.max(1, x1 - x0);
          ctx.fillStyle = COLOR_OF.get(s.cat) ?? '#9ca3af';
          ctx.fillRect(x0, y, w, ROW_H);
          if (w > 3) {
            ctx.fillStyle = 'rgba(255,255,255,0.6)';
            ctx.fillRect(x0 + w - 0.5, y, 0.5, ROW_H); // edge between adjacent spans
          }
        }
        // Labels where there is room: up to the span's end or the next span's start, whichever is first.
        spans.forEach((s, i) => {
          const left = Math.max(X(s.ts), 0);
          const next = spans[i + 1];
          const right = Math.min(X(s.ts + s.dur), next !== undefined && next.ts > s.ts ? X(next.ts) : Infinity, width);
          const room = right - left;
          if (room < 24) return;
          const label = spanLabels(s).find((l) => ctx.measureText(l).width <= room - 6);
          if (label === undefined) return;
          ctx.fillStyle = s.cat === 'segment' || s.cat === 'allreduce' ? '#111827' : '#ffffff';
          ctx.fillText(label, left + 3, y + ROW_H / 2 + 0.5);
        });
      });
    }
    if (this.dragFrom !== null && this.dragTo !== null) {
      const a = X(Math.min(this.dragFrom, this.dragTo));
      const b = X(Math.max(this.dragFrom, this.dragTo));
      ctx.fillStyle = 'rgba(37, 99, 235, 0.12)';
      ctx.fillRect(a, AXIS_H, b - a, height - AXIS_H);
    }
  }

  private drawAxis(ctx: CanvasRenderingContext2D, width: number, height: number, X: (t: number) => number): void {
    const [v0, v1] = this.view;
    const span = v1 - v0;
    const target = Math.max(2, Math.floor(width / 90));
    const raw = span / target;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.fillStyle = '#4b5563';
    ctx.strokeStyle = '#e5e7eb';
    const first = Math.ceil((v0 - this.t0) / step) * step;
    for (let rel = first; this.t0 + rel <= v1; rel += step) {
      const x = Math.round(X(this.t0 + rel)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, AXIS_H - 4);
      ctx.lineTo(x, height);
      ctx.stroke();
      const label = `${Number(rel.toPrecision(4))} ms`;
      const tw = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(Math.max(0, x - tw / 2), width - tw), AXIS_H / 2);
    }
  }
}

function categoryLabel(cat: string): string {
  return CATEGORIES.find((c) => c.cat === cat)?.label ?? cat;
}

/** Texts for inside a span, longest first: the first that fits is drawn. */
function spanLabels(s: TraceSpan): string[] {
  const l = s.layer !== undefined ? `L${s.layer}` : '';
  const h = s.hop !== undefined ? `h${s.hop}` : '';
  const where = [l, h].filter(Boolean).join(' ');
  const join = (...parts: string[]) => parts.filter(Boolean).join(' ');
  switch (s.cat) {
    case 'kernel':
      return [join(s.name, where), join(s.phase ?? '', where), where, h];
    case 'send':
      return [join(s.name, `→ ${s.peer ?? '?'}`, where), join(`→${s.peer ?? ''}`, where), `→${s.peer ?? ''}`];
    case 'recv':
      return [join(s.name, `← ${s.peer ?? '?'}`, where), join(`←${s.peer ?? ''}`, where), `←${s.peer ?? ''}`];
    case 'allreduce':
      return [join(s.name, l), l];
    default:
      return [join(s.name, l), s.name];
  }
}
