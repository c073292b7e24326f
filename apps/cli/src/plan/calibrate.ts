import { LINK_PRESETS, type Link, type SimProblem } from '../bench/sim-model';
import { measureKernel } from '../bench/run-kernels';
import { readLinkCalibration } from './calibration-file';

/** The figures the model runs on, each with where it came from (printed with the plan). */
export interface Calibration {
  readonly flopsPerSec: number;
  readonly flopsSource: string;
  readonly link: Link;
  readonly linkSource: string;
}

export interface CalibrationGiven {
  /** --tflops: one rank's attention kernel, TFLOP/s. */
  readonly tflops?: number;
  /** --link-gbps: gigabits/s per rank. */
  readonly linkGbps?: number;
  /** --link-latency-us. */
  readonly linkLatencyUs?: number;
}

/** The fallback link when none was given or measured: a documented preset (sim-model.ts). */
const FALLBACK_LINK = LINK_PRESETS['ethernet-100g'];

/** Kernel calibration block: S/P tokens, kept between these (under a second or two here either way). */
const MIN_BLOCK = 256;
const MAX_BLOCK = 2048;
const MAX_HEADS = 2;

/**
 * Given figures win; otherwise the kernel is measured now, in this process (one S/P-token block,
 * capped at 2048 tokens and 2 heads, forward + backward, median of 3: about a second), and the
 * link is the ws+msgpack rate `bench attention` last measured between two workers on this
 * machine (calibration-file.ts), else the 100 GbE preset, said as such.
 */
export async function calibrate(p: SimProblem, given: CalibrationGiven): Promise<Calibration> {
  let flopsPerSec: number;
  let flopsSource: string;
  if (given.tflops !== undefined) {
    flopsPerSec = given.tflops * 1e12;
    flopsSource = 'given with --tflops';
  } else {
    const block = Math.max(MIN_BLOCK, Math.min(MAX_BLOCK, Math.floor(p.seqLen / p.workers)));
    const heads = Math.min(MAX_HEADS, p.heads);
    const k = await measureKernel({ seqLen: block, heads, headDim: p.headDim, causal: p.causal });
    flopsPerSec = k.gflops * 1e9;
    flopsSource = `measured now: the ${k.kernel} kernel (${k.threads} thread${k.threads === 1 ? '' : 's'}), forward + backward of one ${block}-token block, ${heads} head(s) of ${p.headDim}, ${p.causal ? 'causal' : 'not causal'}, ${k.ms.toFixed(1)} ms`;
  }
  const latencySec = (given.linkLatencyUs ?? 0) / 1e6;
  if (given.linkGbps !== undefined) {
    return { flopsPerSec, flopsSource, link: { name: `${given.linkGbps} Gbit/s`, bytesPerSec: (given.linkGbps * 1e9) / 8, latencySec }, linkSource: 'given with --link-gbps' + (given.linkLatencyUs === undefined ? ' (latency 0: none given)' : ' and --link-latency-us') };
  }
  const measured = readLinkCalibration();
  if (measured) {
    return { flopsPerSec, flopsSource, link: { name: 'this machine\'s ws+msgpack', bytesPerSec: measured.bytesPerSec, latencySec }, linkSource: `measured by \`${measured.by}\` at ${measured.measuredAt} between two workers on this machine` };
  }
  const link = given.linkLatencyUs === undefined ? FALLBACK_LINK : { ...FALLBACK_LINK, latencySec };
  return { flopsPerSec, flopsSource, link, linkSource: `the ${FALLBACK_LINK.name} preset: no link measured on this machine yet (\`ringtrain bench attention\` records one) and no --link-gbps` };
}
