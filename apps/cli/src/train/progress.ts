import type { EvalResult, StepMetrics, TrainSummary } from '@ringtrain/coordinator';

/** The terminal progress line of `ringtrain train`: one rewritten line on a TTY, periodic lines otherwise. */
export class ProgressLine {
  private lastPrint = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly every = 10,
  ) {}

  /** `m.step` counts as metrics.jsonl does: the steps done, 1 after the first. */
  step(m: StepMetrics, steps: number, etaSec: number): void {
    const acc = m.taskAccuracy === undefined ? '' : `  acc ${(m.taskAccuracy * 100).toFixed(0).padStart(3)}%`;
    const line = `step ${String(m.step).padStart(String(steps).length)}/${steps}  loss ${m.loss.toFixed(4)}${acc}  ${Math.round(m.tokensPerSec)} tok/s  ${Math.round(m.stepMs)} ms/step  ETA ${formatDuration(etaSec)}`;
    if (this.out.isTTY) {
      const width = 30;
      const done = Math.round((m.step / steps) * width);
      this.out.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${line}\x1b[K`);
      if (m.step === steps) this.out.write('\n');
    } else if (m.step === 1 || m.step % this.every === 0 || m.step === steps || Date.now() - this.lastPrint > 30000) {
      this.out.write(`${line}\n`);
      this.lastPrint = Date.now();
    }
  }

  /** A line of its own (a checkpoint, a resume, a stop), clearing the progress bar on a TTY. */
  note(text: string): void {
    this.out.write(`${this.out.isTTY ? '\r\x1b[K' : ''}${text}\n`);
  }

  eval(r: EvalResult): void {
    const acc = r.passkeyAccuracy === undefined ? '' : `, passkey accuracy ${(r.passkeyAccuracy * 100).toFixed(1)}% (digits ${(100 * (r.digitAccuracy ?? 0)).toFixed(1)}%)`;
    const bpb = r.bitsPerByte === null ? '' : `, ${r.bitsPerByte.toFixed(4)} bits/byte`;
    this.out.write(`${this.out.isTTY ? '\r\x1b[K' : ''}eval after step ${r.step}: loss ${r.loss.toFixed(4)}${bpb} over ${r.tokens} tokens of ${r.sequences} held-out sequences${acc}\n`);
  }

  done(s: TrainSummary): void {
    this.out.write(`done: ${s.steps} steps in ${formatDuration(s.wallSec)}, loss ${s.firstLoss.toFixed(3)} -> ${s.finalLoss.toFixed(3)}; run directory ${s.runDir}\n`);
    if (s.eval?.passkeyAccuracy !== undefined) {
      this.out.write(`final passkey accuracy on ${s.eval.samples} held-out samples: ${(s.eval.passkeyAccuracy * 100).toFixed(1)}%\n`);
    }
  }
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
