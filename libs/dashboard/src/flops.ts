/**
 * Model FLOPs of one training step, from the run's model config: the convention of `ringtrain
 * bench train` (3 × forward; forward = 2 FLOPs per multiply-add of every weight matmul per token,
 * LM head included, plus dense causal attention 2·2·S²/2·H·Dh per layer and sequence), with the
 * previous-token maps (prevTokenEmbed × d×d per token) counted too. Document masking is not
 * subtracted: this is the dense causal count. Recomputation is not counted (model FLOPs, as in
 * MFU). Null when the config lacks a field.
 */
export function trainStepFlops(model: Record<string, unknown>, seqLen: number, batchSize: number): number | null {
  const n = (k: string, fallback?: number): number | null => {
    const v = model[k];
    return typeof v === 'number' && Number.isFinite(v) ? v : fallback ?? null;
  };
  const d = n('dModel');
  const layers = n('layers');
  const heads = n('heads');
  const kvHeads = n('kvHeads', heads ?? undefined);
  const headDim = n('headDim');
  const mlpRatio = n('mlpRatio', 4);
  const vocab = n('vocabSize');
  const prev = n('prevTokenEmbed', 0);
  if (d === null || layers === null || heads === null || kvHeads === null || headDim === null || mlpRatio === null || vocab === null || prev === null) return null;
  const tokens = seqLen * batchSize;
  const qkv = d * (heads + 2 * kvHeads) * headDim;
  const perLayer = qkv + heads * headDim * d + 2 * d * mlpRatio * d;
  const matmul = 2 * tokens * (layers * perLayer + vocab * d + prev * d * d);
  const attention = layers * batchSize * 2 * seqLen * seqLen * heads * headDim;
  return 3 * (matmul + attention);
}

interface StagePlan {
  endStep: number;
  seqLen: number;
  batchSize: number;
}

/**
 * Per-step FLOPs for a run: the stage a step belongs to (config.stages, each `steps` long, in
 * order; the main stage alone without warm-up) gives its sequence length and batch. A step
 * whose `tokens` disagree with its stage (a resume at another length) is counted at
 * seqLen = tokens / batchSize.
 */
export function flopsCounter(config: Record<string, unknown> | null): ((step: number, tokens: number | undefined) => number | null) | null {
  if (!config || typeof config.model !== 'object' || config.model === null) return null;
  const model = config.model as Record<string, unknown>;
  const plan: StagePlan[] = [];
  let end = 0;
  const stages = Array.isArray(config.stages) ? (config.stages as Record<string, unknown>[]) : [];
  for (const s of stages) {
    if (typeof s.steps !== 'number' || typeof s.seqLen !== 'number' || typeof s.batchSize !== 'number') continue;
    end += s.steps;
    plan.push({ endStep: end, seqLen: s.seqLen, batchSize: s.batchSize });
  }
  const seqLen = typeof config.seqLen === 'number' ? config.seqLen : null;
  const batchSize = typeof config.batchSize === 'number' ? config.batchSize : 1;
  if (plan.length === 0 && seqLen !== null) plan.push({ endStep: Infinity, seqLen, batchSize });
  if (plan.length === 0) return null;
  const cache = new Map<string, number | null>();
  return (step, tokens) => {
    // Step n is the state after n optimizer steps: it ran in the stage holding step n-1 (0-based).
    const stage = plan.find((p) => step - 1 < p.endStep) ?? plan[plan.length - 1];
    let s = stage.seqLen;
    const b = stage.batchSize;
    if (tokens !== undefined && tokens !== s * b && tokens > 0) s = tokens / b;
    const key = `${s}x${b}`;
    if (!cache.has(key)) cache.set(key, trainStepFlops(model, s, b));
    return cache.get(key) ?? null;
  };
}
