import uPlot from 'uplot';
import { flopsCounter } from '../src/flops';
import type { MetricsRow, Row } from '../src/types';
import { duration, field, num, percent, si } from './format';
import { COLORS } from './colors';

/** What the x axis shows: optimizer steps, or time (wall clock when metrics carry it). */
export type XMode = 'step' | 'time';

interface SeriesSpec {
  label: string;
  color: string;
  /** Values for each row (null: none); x is per row. */
  width?: number;
  dash?: number[];
  points?: boolean;
  scale?: string;
  fmt?: (v: number) => string;
}

interface ChartData {
  x: number[];
  ys: (number | null)[][];
  /** Per series, the raw (unstacked) value shown in the legend, when it differs from the drawn one. */
  raw?: (number | null)[][];
}

interface ChartSpec {
  id: string;
  series: SeriesSpec[];
  /** Stacked areas: series i is drawn over series i-1 (bands), the last `lines` series as lines. */
  stackedCount?: number;
  yLabel: string;
  yFmt: (v: number) => string;
  y2?: { scale: string; label: string; fmt: (v: number) => string };
  logToggle?: boolean;
  yRange?: [number, number];
}

/** One uPlot chart in a card: recreated when the x mode or the log toggle changes, else setData. */
class MetricChart {
  private plot: uPlot | null = null;
  private key = '';
  private data: ChartData = { x: [], ys: [] };
  private hovering = false;
  /** Zoomed in by a drag: live updates keep the range until a double-click. */
  private zoomed = false;
  log = false;

  constructor(
    readonly el: HTMLElement,
    private readonly spec: ChartSpec,
  ) {
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(el);
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.el.clientWidth), height: 190 };
  }

  update(data: ChartData, xMode: XMode, xIsClock: boolean): void {
    this.data = data;
    this.el.dataset.points = String(data.x.length);
    const key = `${xMode}:${xIsClock}:${this.log}`;
    const aligned = [data.x, ...data.ys] as uPlot.AlignedData;
    if (this.plot === null || key !== this.key) {
      this.plot?.destroy();
      this.key = key;
      const plot = new uPlot(this.options(xMode, xIsClock), aligned, this.el);
      plot.over.addEventListener('mouseenter', () => (this.hovering = true));
      plot.over.addEventListener('mouseleave', () => {
        this.hovering = false;
        this.showLatest();
      });
      plot.over.addEventListener('dblclick', () => (this.zoomed = false));
      this.zoomed = false;
      this.plot = plot;
    } else {
      this.plot.setData(aligned, !this.zoomed);
    }
    this.showLatest();
  }

  /**
   * Away from the cursor, the legend reads the latest values: the numbers a glance wants. (Also
   * from uPlot's setLegend hook: its redraws after setData or a resize reset the legend.)
   */
  private showLatest(): void {
    const u = this.plot;
    if (u === null || this.hovering || this.data.x.length === 0) return;
    if (u.legend.idx !== this.data.x.length - 1) u.setLegend({ idx: this.data.x.length - 1 }, false);
  }

  private options(xMode: XMode, xIsClock: boolean): uPlot.Options {
    const s = this.spec;
    const stacked = s.stackedCount ?? 0;
    const legendValue = (i: number, fmt: (v: number) => string) => (_u: uPlot, v: number | null, _si: number, idx: number | null) => {
      const raw = idx !== null && this.data.raw?.[i] ? this.data.raw[i][idx] : v;
      return raw === null || raw === undefined ? '—' : fmt(raw);
    };
    const series: uPlot.Series[] = [
      xMode === 'step'
        ? { label: 'step', value: (_u, v) => (v === null ? '—' : String(Math.round(v))) }
        : { label: xIsClock ? 'time' : 'training time', value: (_u, v) => (v === null ? '—' : xIsClock ? new Date(v * 1000).toLocaleTimeString([], { hour12: false }) : duration(v * 1000)) },
      ...s.series.map((ss, i): uPlot.Series => ({
        label: ss.label,
        stroke: ss.color,
        width: ss.width ?? 1.5,
        dash: ss.dash,
        scale: ss.scale ?? 'y',
        spanGaps: true,
        fill: i < stacked ? ss.color + 'cc' : undefined,
        paths: ss.points ? () => null : undefined,
        points: ss.points ? { show: true, size: 7, fill: ss.color, stroke: '#fff', width: 1 } : { show: false },
        value: legendValue(i, ss.fmt ?? s.yFmt),
      })),
    ];
    const bands: uPlot.Band[] = [];
    for (let i = 1; i < stacked; i++) bands.push({ series: [i + 1, i], fill: s.series[i].color + 'cc' });
    const axisFont = '11px system-ui, sans-serif';
    const grid = { stroke: '#e5e7eb', width: 1 };
    const axes: uPlot.Axis[] = [
      {
        font: axisFont,
        grid,
        stroke: '#4b5563',
        values: xMode === 'time' && !xIsClock ? (_u, splits) => splits.map((v) => (v === null || v === undefined ? '' : elapsed(v))) : undefined,
      },
      {
        font: axisFont,
        grid,
        stroke: '#4b5563',
        size: 56,
        values: (_u, splits) => splits.map((v) => (v === null || v === undefined ? '' : s.yFmt(v))),
        label: s.yLabel,
        labelFont: axisFont,
        labelSize: 16,
        // On a log scale, powers of ten only: uPlot's 2…9 in every decade crowd the axis.
        splits: this.log ? (_u, _i, min, max) => decades(min, max) : undefined,
      },
    ];
    const scales: uPlot.Scales = { x: { time: xMode === 'time' && xIsClock }, y: this.log ? { distr: 3 } : s.yRange ? { range: s.yRange } : {} };
    if (s.y2) {
      axes.push({ scale: s.y2.scale, side: 1, font: axisFont, grid: { show: false }, stroke: '#4b5563', size: 60, values: (_u, splits) => splits.map((v) => (v === null || v === undefined ? '' : s.y2!.fmt(v))), label: s.y2.label, labelFont: axisFont, labelSize: 16 });
      scales[s.y2.scale] = {};
    }
    return {
      ...this.size(),
      series,
      bands,
      axes,
      scales,
      cursor: { sync: { key: 'ringtrain', setSeries: false }, drag: { x: true, y: false } },
      legend: { live: true },
      hooks: {
        setLegend: [() => this.showLatest()],
        setSelect: [(u) => {
          if (u.select.width > 0) this.zoomed = true;
        }],
      },
    };
  }
}

/** Powers of ten from min to max (at most ~8 of them). */
function decades(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(Math.max(min, 1e-30)));
  const hi = Math.ceil(Math.log10(Math.max(max, 1e-30)));
  const every = Math.max(1, Math.ceil((hi - lo + 1) / 8));
  const out: number[] = [];
  for (let e = lo; e <= hi; e += every) {
    const v = 10 ** e;
    if (v >= min * 0.999 && v <= max * 1.001) out.push(v);
  }
  return out;
}

/** An axis tick of elapsed seconds, short: 45 s, 1:40, 2:05:00. */
function elapsed(sec: number): string {
  if (sec < 100) return `${Number(sec.toPrecision(3))} s`;
  const s = Math.round(sec);
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}:${two(s % 60)}`;
  return `${Math.floor(s / 3600)}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}

/** EMA with TensorBoard's debiasing, over the points shown (nulls skipped). */
export function ema(ys: readonly (number | null)[], alpha: number): (number | null)[] {
  let acc = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return null;
    acc = alpha * acc + (1 - alpha) * y;
    n++;
    return acc / (1 - alpha ** n);
  });
}

const ms = (v: number) => duration(v);

const SPECS: ChartSpec[] = [
  {
    id: 'loss',
    yLabel: 'loss (nats)',
    yFmt: (v) => num(v),
    logToggle: true,
    series: [
      { label: 'loss', color: COLORS.raw, width: 1 },
      { label: 'smoothed', color: COLORS.loss, width: 2 },
      { label: 'held-out', color: COLORS.eval, points: true },
    ],
  },
  { id: 'lr', yLabel: 'learning rate', yFmt: (v) => num(v), series: [{ label: 'learning rate', color: COLORS.lr, width: 2 }] },
  {
    id: 'grad',
    yLabel: 'gradient norm',
    yFmt: (v) => num(v),
    logToggle: true,
    series: [
      { label: 'grad norm', color: COLORS.raw, width: 1 },
      { label: 'smoothed', color: COLORS.grad, width: 2 },
    ],
  },
  {
    id: 'accuracy',
    yLabel: 'accuracy',
    yFmt: (v) => percent(v),
    yRange: [0, 1],
    series: [
      { label: 'training batch', color: COLORS.raw, width: 1 },
      { label: 'smoothed', color: COLORS.accuracy, width: 2 },
      { label: 'held-out', color: COLORS.eval, points: true },
    ],
  },
  {
    id: 'throughput',
    yLabel: 'tokens/s',
    yFmt: (v) => si(v),
    y2: { scale: 'flops', label: 'model FLOP/s', fmt: (v) => si(v) },
    series: [
      { label: 'tokens/s', color: COLORS.tokens, width: 2, fmt: (v) => `${si(v)} tok/s` },
      // Dashed: within a stage it is tokens/s times a constant, so it lies on the tokens/s line.
      { label: 'model FLOP/s', color: COLORS.flops, width: 1.5, dash: [5, 4], scale: 'flops', fmt: (v) => si(v, 'FLOP/s') },
    ],
  },
  {
    id: 'split',
    yLabel: 'ms per step',
    yFmt: ms,
    stackedCount: 6,
    series: [
      { label: 'compute', color: COLORS.segment, width: 0.5 },
      { label: 'attention kernels', color: COLORS.kernel, width: 0.5 },
      { label: 'exposed comm', color: COLORS.wait, width: 0.5 },
      { label: 'all-reduce', color: COLORS.allreduce, width: 0.5 },
      { label: 'optimizer', color: COLORS.optimizer, width: 0.5 },
      { label: 'checkpoint held', color: COLORS.checkpoint, width: 0.5 },
      { label: 'step total', color: '#111827', width: 1.5 },
    ],
  },
];

/** The metric charts of the page, drawn from the store's rows. */
export class Charts {
  private readonly charts = new Map<string, MetricChart>();

  constructor(root: HTMLElement) {
    for (const spec of SPECS) {
      const el = root.querySelector<HTMLElement>(`#chart-${spec.id}`);
      if (!el) throw new Error(`#chart-${spec.id} is missing from the page`);
      const chart = new MetricChart(el, spec);
      this.charts.set(spec.id, chart);
      const toggle = root.querySelector<HTMLInputElement>(`#log-${spec.id}`);
      toggle?.addEventListener('change', () => {
        chart.log = toggle.checked;
        this.onToggle();
      });
    }
  }

  /** Set by the page: redraw after a toggle. */
  onToggle: () => void = () => undefined;

  render(rows: readonly MetricsRow[], evals: readonly Row[], config: Row | null, xMode: XMode, alpha: number): { hasAccuracy: boolean; hasFlops: boolean; xIsClock: boolean } {
    const xIsClock = rows.length > 0 && rows.every((r) => typeof r.time === 'string');
    const x = xValues(rows, xMode, xIsClock);
    const col = (key: string) => rows.map((r) => field(r, key));
    const positive = (ys: (number | null)[], log: boolean) => (log ? ys.map((v) => (v !== null && v > 0 ? v : null)) : ys);

    // Held-out points sit at their step (or the time of the metrics row of that step).
    const evalAt = (key: string) => {
      const ys: (number | null)[] = rows.map(() => null);
      let j = 0;
      for (const e of evals) {
        const step = field(e, 'step');
        const v = field(e, key);
        if (step === null || v === null) continue;
        while (j < rows.length - 1 && rows[j + 1].step <= step) j++;
        if (rows.length > 0 && rows[j].step <= step) ys[j] = v;
      }
      return ys;
    };

    const lossChart = this.charts.get('loss')!;
    const loss = col('loss');
    lossChart.update({ x, ys: [positive(loss, lossChart.log), positive(ema(loss, alpha), lossChart.log), positive(evalAt('loss'), lossChart.log)] }, xMode, xIsClock);
    this.charts.get('lr')!.update({ x, ys: [col('lr')] }, xMode, xIsClock);
    const gradChart = this.charts.get('grad')!;
    const grad = col('gradNorm');
    gradChart.update({ x, ys: [positive(grad, gradChart.log), positive(ema(grad, alpha), gradChart.log)] }, xMode, xIsClock);

    const acc = col('taskAccuracy');
    const evalAcc = evalAt('passkeyAccuracy');
    const hasAccuracy = acc.some((v) => v !== null) || evalAcc.some((v) => v !== null);
    if (hasAccuracy) this.charts.get('accuracy')!.update({ x, ys: [acc, ema(acc, alpha), evalAcc] }, xMode, xIsClock);

    const flopsOf = flopsCounter(config);
    const flops = rows.map((r) => {
      const given = field(r, 'modelFlops') ?? field(r, 'flops');
      const perStep = given ?? flopsOf?.(r.step, field(r, 'tokens') ?? undefined) ?? null;
      const stepMs = field(r, 'stepMs');
      return perStep !== null && stepMs !== null && stepMs > 0 ? perStep / (stepMs / 1000) : null;
    });
    const hasFlops = flops.some((v) => v !== null);
    this.charts.get('throughput')!.update({ x, ys: [col('tokensPerSec'), flops] }, xMode, xIsClock);

    // Stacked split: each band is one part; the legend shows the part, the line the whole step.
    const parts = ['computeMs', 'attentionMs', 'commMs', 'allReduceMs', 'optimizerMs', 'checkpointHeldMs'].map((k) => rows.map((r) => field(r, k) ?? (k === 'checkpointHeldMs' ? 0 : null)));
    const stacked: (number | null)[][] = [];
    let acc2 = rows.map(() => 0 as number | null);
    for (const p of parts) {
      acc2 = acc2.map((a, i) => (a === null || p[i] === null ? a : a + (p[i] as number)));
      stacked.push(acc2);
    }
    const step = rows.map((r) => {
      const s = field(r, 'stepMs');
      return s === null ? null : s + (field(r, 'checkpointHeldMs') ?? 0);
    });
    this.charts.get('split')!.update({ x, ys: [...stacked, step], raw: [...parts, step] }, xMode, xIsClock);
    return { hasAccuracy, hasFlops, xIsClock };
  }
}

/**
 * x of each row: its step; or its time: the wall clock (seconds) when rows carry `time`, else
 * the training time so far, the sum of step times (each kept point stands for the steps since
 * the previous one).
 */
function xValues(rows: readonly MetricsRow[], xMode: XMode, xIsClock: boolean): number[] {
  if (xMode === 'step') return rows.map((r) => r.step);
  if (xIsClock) return rows.map((r) => Date.parse(r.time as string) / 1000);
  let t = 0;
  let prevStep: number | null = null;
  return rows.map((r) => {
    const stepSec = ((field(r, 'stepMs') ?? 0) + (field(r, 'checkpointHeldMs') ?? 0)) / 1000;
    t += stepSec * (prevStep === null ? 1 : Math.max(1, r.step - prevStep));
    prevStep = r.step;
    return t;
  });
}
