import { RingtrainError, SeededRandom, optionError } from '@ringtrain/core';
import { checkCount, type Batch, type PasskeySplit, PASSKEY_SPLITS } from './dataset';
import { logUniformInt, mixSeed } from './seed';
import { IGNORE_TARGET } from './tokenizer';

/**
 * Passkey retrieval, a synthetic long-context task: a random key is stated near the start,
 * filler follows, and the sequence ends with the question and the key again, so the answer
 * digits are the last tokens:
 *
 *   [filler] The pass key is 48213. Remember it. 48213 is the pass key. [filler]
 *   What is the pass key? The pass key is 48213
 *
 * Each sample is exactly S + 1 byte tokens (the filler absorbs the difference). The key sits in
 * the first `keyDepth` fraction of the sequence, so under any layout it lives on an early
 * shard while the question is on the last: answering needs attention across ranks.
 *
 * Held-out keys: a fixed hash of the key string puts about 1 key in 10 in the eval split and
 * the rest in train, whatever the seed, so no eval sample (and no eval key) ever appears in
 * training.
 */
export interface PasskeyOptions {
  /** S: tokens per training sequence. */
  seqLen: number;
  /** Digits in the key (2..18, default 5); the first digit is never 0. */
  keyLength?: number;
  /** [min, max] fraction of the sequence where the key statement starts, drawn uniformly then moved back to a sentence start (default [0, 0.15]). */
  keyDepth?: readonly [number, number];
  /**
   * 'cycle' and 'random' draw fixed sentences in order or at random; 'repeat' makes random
   * nonsense sentences per sample and cycles them, so predicting the filler needs copying from
   * context — the same skill the answer needs (it teaches induction heads, not memorisation).
   * The cycle's period is drawn log-uniformly from 16 bytes to a third of the filler, so copy
   * distances span short range (where copying is learned quickly) to long range (where the
   * answer needs it).
   */
  filler?: 'cycle' | 'random' | 'repeat';
  /** Filler sentences (no digits). Default: FILLER_SENTENCES. */
  fillerSentences?: readonly string[];
  /** Which targets carry loss: 'all' (the filler too, default) or 'answer' (only the answer digits; the rest -1). */
  lossOn?: 'all' | 'answer';
}

export type PasskeyConfig = Readonly<Required<PasskeyOptions>>;

export const FILLER_SENTENCES: readonly string[] = Object.freeze([
  'The grass is green.',
  'The sky is blue.',
  'The sun is yellow.',
  'Here we go.',
  'There and back again.',
  'The river runs down to the sea.',
  'Birds sing in the early morning.',
  'The road goes on and on.',
  'Snow lies on the hills in winter.',
  'The night is quiet and dark.',
]);

const OPTION_KEYS = ['seqLen', 'keyLength', 'keyDepth', 'filler', 'fillerSentences', 'lossOn'] as const;

const statement = (key: string) => `The pass key is ${key}. Remember it. ${key} is the pass key. `;
const QUESTION = '\nWhat is the pass key? The pass key is ';

/** Shortest sequence length that fits a key of `keyLength` digits with no filler at all. */
export function passkeyMinSeqLen(keyLength: number): number {
  const key = '0'.repeat(keyLength);
  return Buffer.byteLength(statement(key)) + Buffer.byteLength(QUESTION) + keyLength - 1;
}

/** Options -> validated, frozen config (unknown keys are refused: options may come from a file). */
export function passkeyConfig(opts: PasskeyOptions): PasskeyConfig {
  for (const key of Object.keys(opts)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) throw optionError(`passkey option "${key}"`, (opts as unknown as Record<string, unknown>)[key], `one of ${OPTION_KEYS.join(', ')}`);
  }
  const keyLength = opts.keyLength ?? 5;
  if (!Number.isInteger(keyLength) || keyLength < 2 || keyLength > 18) throw optionError('keyLength', keyLength, 'an integer from 2 to 18');
  const seqLen = checkCount('seqLen', opts.seqLen, 1);
  const min = passkeyMinSeqLen(keyLength);
  if (seqLen < min) {
    throw new RingtrainError('PASSKEY_SEQ_TOO_SHORT', `a passkey sample with a ${keyLength}-digit key needs seqLen ≥ ${min}, got ${seqLen}`, {
      hint: `use a sequence length of at least ${min} (long sequences are the point of the task), or a shorter key`,
      details: { seqLen, keyLength, min },
    });
  }
  const keyDepth = opts.keyDepth ?? [0, 0.15];
  if (!Array.isArray(keyDepth) || keyDepth.length !== 2 || !(keyDepth[0] >= 0 && keyDepth[0] <= keyDepth[1] && keyDepth[1] <= 1)) {
    throw optionError('keyDepth', keyDepth, 'two fractions [min, max] with 0 ≤ min ≤ max ≤ 1');
  }
  const filler = opts.filler ?? 'cycle';
  if (filler !== 'cycle' && filler !== 'random' && filler !== 'repeat') throw optionError('filler', filler, '"cycle", "random" or "repeat"');
  const fillerSentences = opts.fillerSentences ?? FILLER_SENTENCES;
  if (!Array.isArray(fillerSentences) || fillerSentences.length === 0 || fillerSentences.some((s) => typeof s !== 'string' || s.length === 0 || /[0-9]/.test(s))) {
    throw optionError('fillerSentences', fillerSentences, 'a non-empty list of non-empty sentences without digits (digits would blur the key)');
  }
  const lossOn = opts.lossOn ?? 'all';
  if (lossOn !== 'all' && lossOn !== 'answer') throw optionError('lossOn', lossOn, '"all" or "answer"');
  return Object.freeze({
    seqLen,
    keyLength,
    keyDepth: Object.freeze([keyDepth[0], keyDepth[1]] as const),
    filler,
    fillerSentences: Object.freeze([...fillerSentences]),
    lossOn,
  });
}

export interface PasskeySample {
  /** [S] token ids. */
  readonly inputs: Int32Array;
  /** [S] next-token ids (-1 = no loss, with lossOn 'answer'). */
  readonly targets: Int32Array;
  readonly key: string;
  /** Index (in inputs) of the key's first digit in the statement near the start. */
  readonly keyPosition: number;
  /** Target indices holding the answer digits, in order: S - keyLength … S - 1. */
  readonly answerPositions: Int32Array;
}

export interface SampleRef {
  seed: number;
  split: PasskeySplit;
  index: number;
}

const SPLIT_TAG: Readonly<Record<PasskeySplit, number>> = { train: 0x7261696e, eval: 0x6576616c };

/** Sample `index` of the (seed, split) stream: the same on every machine, for any access order. */
export function passkeySample(config: PasskeyConfig, ref: SampleRef): PasskeySample {
  if (!PASSKEY_SPLITS.includes(ref.split)) throw optionError('split', ref.split, PASSKEY_SPLITS.map((s) => `"${s}"`).join(' or '));
  checkCount('seed', ref.seed, 0);
  checkCount('index', ref.index, 0);
  const rng = new SeededRandom(mixSeed(ref.seed, SPLIT_TAG[ref.split], ref.index));
  const S = config.seqLen;
  const total = S + 1;
  const key = drawKey(rng, config.keyLength, ref.split);
  const said = Buffer.from(statement(key), 'utf8');
  const tail = Buffer.from(QUESTION + key, 'utf8');
  const free = total - said.length - tail.length;

  const { bytes: filler, boundaries } = fillerText(rng, config, free);
  const [lo, hi] = config.keyDepth;
  const wanted = Math.min(free, Math.floor((lo + (hi - lo) * rng.next()) * total));
  // Start the statement at the last sentence boundary at or before the drawn depth.
  let head = 0;
  for (const b of boundaries) if (b <= wanted) head = b;

  const seq = new Int32Array(total);
  seq.set(filler.subarray(0, head), 0);
  seq.set(said, head);
  seq.set(filler.subarray(head, free), head + said.length);
  seq.set(tail, free + said.length);

  const inputs = seq.slice(0, S);
  const targets = seq.slice(1, total);
  const answerPositions = Int32Array.from({ length: config.keyLength }, (_, j) => S - config.keyLength + j);
  if (config.lossOn === 'answer') {
    targets.fill(IGNORE_TARGET, 0, S - config.keyLength);
  }
  const keyPosition = head + Buffer.byteLength('The pass key is ');
  return { inputs, targets, key, keyPosition, answerPositions };
}

export interface PasskeyBatch extends Batch {
  readonly keys: string[];
  /** Per row: target indices (0..S-1 within the row) of the answer digits. */
  readonly answerPositions: Int32Array[];
}

/** Samples index … index + batchSize - 1 of the (seed, split) stream as one batch. */
export function passkeyBatch(opts: PasskeyOptions & { batchSize: number; seed: number; index: number; split?: PasskeySplit }): PasskeyBatch {
  const { batchSize, seed, index, split, ...options } = opts;
  return passkeyBatchOf(passkeyConfig(options), { seed, index, split: split ?? 'train' }, batchSize);
}

export function passkeyBatchOf(config: PasskeyConfig, start: SampleRef, batchSize: number): PasskeyBatch {
  const B = checkCount('batchSize', batchSize, 1);
  const S = config.seqLen;
  const inputs = new Int32Array(B * S);
  const targets = new Int32Array(B * S);
  const keys: string[] = [];
  const answerPositions: Int32Array[] = [];
  for (let b = 0; b < B; b++) {
    const s = passkeySample(config, { ...start, index: start.index + b });
    inputs.set(s.inputs, b * S);
    targets.set(s.targets, b * S);
    keys.push(s.key);
    answerPositions.push(s.answerPositions);
  }
  return { inputs, targets, seqLen: S, batchSize: B, keys, answerPositions };
}

export interface PasskeyScore {
  /** Every answer digit predicted right. */
  correct: boolean;
  digitsCorrect: number;
  digits: number;
}

/**
 * Scores one sample: predictedIds[p] is the argmax prediction for target p of that sample
 * (length S, or anything indexable at the answer positions).
 */
export function scorePasskey(predictedIds: ArrayLike<number>, sample: Pick<PasskeySample, 'targets' | 'answerPositions'>): PasskeyScore {
  return scoreRow(predictedIds, 0, sample.targets, 0, sample.answerPositions);
}

function scoreRow(predicted: ArrayLike<number>, predictedAt: number, targets: Int32Array, targetsAt: number, positions: Int32Array): PasskeyScore {
  let digitsCorrect = 0;
  for (const p of positions) if (predicted[predictedAt + p] === targets[targetsAt + p]) digitsCorrect++;
  return { correct: digitsCorrect === positions.length, digitsCorrect, digits: positions.length };
}

export interface PasskeyAccuracy {
  /** Fraction of samples with every answer digit right. */
  accuracy: number;
  /** Fraction of answer digits right. */
  digitAccuracy: number;
  correct: number;
  samples: number;
}

/** Passkey accuracy of a batch, from argmax predictions [batchSize * seqLen]. */
export function passkeyAccuracy(predictedIds: ArrayLike<number>, batch: PasskeyBatch): PasskeyAccuracy {
  const S = batch.seqLen;
  if (predictedIds.length !== batch.batchSize * S) {
    throw new RingtrainError('BAD_SHAPE', `predictions have ${predictedIds.length} ids, expected batchSize ${batch.batchSize} × seqLen ${S}`);
  }
  let correct = 0;
  let digits = 0;
  let digitsCorrect = 0;
  for (let b = 0; b < batch.batchSize; b++) {
    const score = scoreRow(predictedIds, b * S, batch.targets, b * S, batch.answerPositions[b]);
    if (score.correct) correct++;
    digits += score.digits;
    digitsCorrect += score.digitsCorrect;
  }
  return { accuracy: correct / batch.batchSize, digitAccuracy: digitsCorrect / digits, correct, samples: batch.batchSize };
}

/** Whether `key` belongs to the eval split (a fixed FNV-1a hash: about one key in ten). */
export function isHeldOutKey(key: string): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h % 10 === 0;
}

function drawKey(rng: SeededRandom, length: number, split: PasskeySplit): string {
  for (let attempt = 0; attempt < 100000; attempt++) {
    let key = String(1 + Math.floor(rng.next() * 9));
    for (let i = 1; i < length; i++) key += String(Math.floor(rng.next() * 10));
    if (isHeldOutKey(key) === (split === 'eval')) return key;
  }
  throw new RingtrainError('PASSKEY_NO_KEY', `no ${length}-digit key falls in the ${split} split`, { hint: 'use a longer key' });
}

/** At least `length` bytes of filler and the offsets where sentences start. */
function fillerText(rng: SeededRandom, config: PasskeyConfig, length: number): { bytes: Buffer; boundaries: number[] } {
  const pool = config.filler === 'repeat' ? nonsenseSentences(rng, repeatPeriod(rng, length)) : config.fillerSentences;
  const parts: string[] = [];
  const boundaries: number[] = [];
  let size = 0;
  let next = Math.floor(rng.next() * pool.length);
  while (size < length) {
    boundaries.push(size);
    const sentence = `${pool[next]} `;
    parts.push(sentence);
    size += Buffer.byteLength(sentence);
    next = config.filler === 'random' ? Math.floor(rng.next() * pool.length) : (next + 1) % pool.length;
  }
  boundaries.push(size);
  return { bytes: Buffer.from(parts.join(''), 'utf8'), boundaries };
}

/**
 * The period of a 'repeat' filler: log-uniform from 16 bytes to a third of the filler, so every
 * sequence length holds at least three cycles and copy distances cover short and long range alike.
 */
function repeatPeriod(rng: SeededRandom, fillerBytes: number): number {
  return logUniformInt(rng, 16, fillerBytes / 3);
}

/** Random sentences of 2–6 lowercase words, new for every sample (no digits), ≥ `period` bytes in all. */
function nonsenseSentences(rng: SeededRandom, period: number): string[] {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const pick = (lo: number, hi: number) => lo + Math.floor(rng.next() * (hi - lo + 1));
  const out: string[] = [];
  for (let bytes = 0; bytes < period; ) {
    const words = Array.from({ length: pick(2, 6) }, () => Array.from({ length: pick(2, 7) }, () => letters[Math.floor(rng.next() * letters.length)]).join(''));
    const text = words.join(' ');
    out.push(`${text[0].toUpperCase()}${text.slice(1)}.`);
    bytes += text.length + 2;
  }
  return out;
}
