import { parseDocuments, type DocumentSpec } from './documents';
import { RingtrainError, optionError } from '@ringtrain/core';
import type { LayoutName } from '@ringtrain/layout';
import { OPTIM_DEFAULTS, checkHybridDegree, defaultUlyssesDegree, didYouMean, resolveModel, strategyLayout, type HybridLabels, type ModelConfig, type OptimConfig } from '@ringtrain/config';
import { getStrategy, makeProblem, STRATEGY_NAMES, type AttentionProblem, type StrategyName } from '@ringtrain/worker';

/** `ringtrain check` options as commander hands them over (strings for the numeric ones). */
export interface CheckOptions {
  strategies: string;
  workers: string;
  seqLen: string;
  heads: string;
  kvHeads?: string;
  headDim: string;
  causal: boolean;
  seed: string;
  json: boolean;
  dump?: string;
  timeoutMs: string;
  tolerance?: string;
  train: boolean;
  model: string;
  batchSize: string;
  lr: string;
  docs?: string;
  docLens?: string;
  positions: string;
  /** hybrid: ranks per Ulysses group (default: defaultUlyssesDegree). */
  ulyssesDegree?: string;
  /** hybrid: the layout of its ring across groups. */
  ringLayout?: string;
}

/** hybrid's choices: the Ulysses degree U and the layout of the ring across the P/U groups. */
export interface HybridConfig {
  readonly ulyssesDegree: number;
  readonly ringLayout: LayoutName;
}

export interface CheckConfig {
  readonly strategies: readonly StrategyName[];
  readonly workers: number;
  readonly problem: AttentionProblem;
  readonly seed: number;
  readonly json: boolean;
  readonly dumpDir: string | null;
  readonly timeoutMs: number;
  /** Largest accepted error relative to max|reference|. */
  readonly tolerance: number;
  /** `--train`: check one training step instead of attention alone. */
  readonly train: { model: ModelConfig; batchSize: number; optim: OptimConfig } | null;
  /** `--docs` / `--doc-lens`: packed documents, compared under the block-diagonal causal mask. */
  readonly documents: DocumentSpec | null;
  /** With --train and documents: RoPE positions restart at each document. */
  readonly perDocumentPositions: boolean;
  /** hybrid's degree and ring layout (those of the run; present even when hybrid is not run). */
  readonly hybrid: HybridConfig;
}

export function parseIntOption(option: string, raw: string, min: number): number {
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value)) throw optionError(option, raw, `an integer of at least ${min}`);
  if (value < min) throw optionError(option, value, `an integer of at least ${min}`);
  return value;
}

/** A number of at least 0 (minutes, ratios). */
export function parseNumberOption(option: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0) throw optionError(option, raw, 'a number of at least 0');
  return value;
}

function parsePositiveNumber(option: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw optionError(option, raw, 'a positive number');
  return value;
}

/** Options -> validated, frozen config. Every error names the option, the value and what would work. */
export function checkConfigFrom(opts: CheckOptions): CheckConfig {
  const workers = parseIntOption('--workers', opts.workers, 1);
  const seqLen = parseIntOption('--seq-len', opts.seqLen, 1);
  const heads = parseIntOption('--heads', opts.heads, 1);
  const kvHeads = opts.kvHeads === undefined ? heads : parseIntOption('--kv-heads', opts.kvHeads, 1);
  const headDim = parseIntOption('--head-dim', opts.headDim, 1);
  const seed = parseIntOption('--seed', opts.seed, 0);
  const timeoutMs = parseIntOption('--timeout-ms', opts.timeoutMs, 1);
  const tolerance = parsePositiveNumber('--tolerance', opts.tolerance ?? (opts.train ? '1e-5' : '1e-4'));

  const names = parseStrategyList(opts.strategies);
  checkSeqCoversWorkers(seqLen, workers);
  const documents = parseDocuments(opts.docs, opts.docLens, seqLen);
  if (opts.positions !== 'global' && opts.positions !== 'per-document') throw optionError('--positions', opts.positions, '"global" or "per-document"');
  if (opts.positions === 'per-document' && !(opts.train && documents)) {
    throw optionError('--positions', opts.positions, '"per-document" only with --train and --docs/--doc-lens (RoPE positions restart at each document)');
  }
  const strategies = names;
  let train: CheckConfig['train'] = null;
  let problem: AttentionProblem;
  if (opts.train) {
    const model = resolveModel(opts.model);
    const batchSize = parseIntOption('--batch-size', opts.batchSize, 1);
    const lr = parsePositiveNumber('--lr', opts.lr);
    train = { model, batchSize, optim: Object.freeze({ ...OPTIM_DEFAULTS, lr, warmupSteps: 0, totalSteps: 1 }) };
    // Batch is folded into heads for attention, so strategies see B·H heads.
    problem = makeProblem({ seqLen, heads: model.heads * batchSize, kvHeads: model.kvHeads * batchSize, headDim: model.headDim, causal: true });
  } else {
    problem = makeProblem({ seqLen, heads, kvHeads, headDim, causal: opts.causal });
  }
  // With documents a batch attends sequence by sequence (worker per-sequence.ts): H heads per call, not B·H.
  const perCall = train && documents ? makeProblem({ ...problem, heads: train.model.heads, kvHeads: train.model.kvHeads }) : problem;
  const hybrid = hybridConfigFrom(opts, strategies, perCall.heads, workers, train ? { heads: train.model.heads, batch: train && !documents ? train.batchSize : 1 } : null);
  for (const name of strategies) {
    getStrategy(name, hybrid).checkProblem(perCall, workers);
    strategyLayout({ strategy: name, ...hybrid }, seqLen, workers);
  }
  return Object.freeze({
    strategies: Object.freeze(strategies),
    workers,
    problem,
    seed,
    json: opts.json,
    dumpDir: opts.dump ?? null,
    timeoutMs,
    tolerance,
    train,
    documents,
    perDocumentPositions: opts.positions === 'per-document',
    hybrid,
  });
}

/** `--ring-layout`: the ring family's names (ring = contiguous). */
const RING_LAYOUTS: Readonly<Record<string, LayoutName>> = { ring: 'contiguous', contiguous: 'contiguous', striped: 'striped', zigzag: 'zigzag' };

export function parseRingLayout(raw: string): LayoutName {
  const layout = RING_LAYOUTS[raw.trim()];
  if (layout === undefined) {
    throw new RingtrainError('BAD_OPTION', `--ring-layout "${raw}" is not a ring layout`, {
      hint: `use one of ring (contiguous), striped, zigzag${didYouMean(raw, Object.keys(RING_LAYOUTS))}`,
      details: { option: '--ring-layout', value: raw },
    });
  }
  return layout;
}

/**
 * `--ulysses-degree` and `--ring-layout`, which only hybrid reads: refused without it, checked
 * against the heads each attention call splits (`perCallHeads`: with --train, model heads ×
 * batch, or per sequence with documents) and the workers.
 */
export function hybridConfigFrom(
  opts: Pick<CheckOptions, 'ulyssesDegree' | 'ringLayout'>,
  strategies: readonly StrategyName[],
  perCallHeads: number,
  workers: number,
  model: { heads: number; batch: number } | null,
): HybridConfig {
  const used = strategies.includes('hybrid');
  for (const [option, value] of [['--ulysses-degree', opts.ulyssesDegree], ['--ring-layout', opts.ringLayout]] as const) {
    if (value !== undefined && !used) {
      throw new RingtrainError('BAD_OPTION', `${option} ${value} only applies to the hybrid strategy, which --strategies does not name`, {
        hint: `add hybrid to --strategies, or drop ${option}`,
        details: { option, value },
      });
    }
  }
  const ringLayout = opts.ringLayout === undefined ? 'contiguous' : parseRingLayout(opts.ringLayout);
  const ulyssesDegree = opts.ulyssesDegree === undefined ? defaultUlyssesDegree(perCallHeads, workers) : parseIntOption('--ulysses-degree', opts.ulyssesDegree, 0) // 0 is refused below, naming the degrees that work;
  if (used) {
    const heads = model === null ? `--heads ${perCallHeads}` : model.batch === 1 ? `model heads ${model.heads}` : `model heads ${model.heads} × --batch-size ${model.batch}`;
    const labels: HybridLabels = { degree: `--ulysses-degree ${ulyssesDegree}`, heads, workers: `--workers ${workers}` };
    checkHybridDegree(ulyssesDegree, perCallHeads, workers, labels);
  }
  return Object.freeze({ ulyssesDegree, ringLayout });
}

/** `--strategies a,b`: known names, deduplicated, in the order given. */
export function parseStrategyList(raw: string): StrategyName[] {
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw optionError('--strategies', raw, `a comma list of ${STRATEGY_NAMES.join(', ')}`);
  for (const name of names) {
    if (!STRATEGY_NAMES.includes(name as StrategyName)) {
      throw new RingtrainError('UNKNOWN_STRATEGY', `--strategies: unknown strategy "${name}"`, {
        hint: `use a comma list of ${STRATEGY_NAMES.join(', ')}${didYouMean(name, STRATEGY_NAMES)}`,
        details: { option: '--strategies', value: name },
      });
    }
  }
  return [...new Set(names)] as StrategyName[];
}

/** Every worker must own at least one token. */
export function checkSeqCoversWorkers(seqLen: number, workers: number): void {
  if (seqLen < workers) {
    throw new RingtrainError('SEQ_TOO_SHORT', `--seq-len ${seqLen} is shorter than --workers ${workers}: some worker would own no token`, {
      hint: `use --seq-len ${workers} or more, or --workers ${seqLen} or fewer`,
      details: { seqLen, workers },
    });
  }
}
