import { createLogger } from '@ringtrain/core';
import { CLI } from './testing/cli';
import { runFlood, type FloodReport } from './testing/flood';

/**
 * A peer of the world floods a real worker with frames of the largest size that nobody consumes.
 * The worker stops reading that link once maxQueuedBytes (2 × maxFrameBytes by default) is
 * reached, which happens on the frame that crosses it: three frames queued, plus the next one
 * partly read and the socket reads a frame was assembled from, not yet collected. So memory stays
 * under baseline + maxQueuedBytes + 2 × maxFrameBytes + MARGIN, TCP throttles the sender, and the
 * worker keeps working. 32 MiB frames instead of the default 256 MiB keep the run short; the
 * bound scales with the frame size. Eight frames, not four: without the budget four frames of
 * 32 MiB peak at about +160 MiB, under the bound, so only a longer flood tells the two apart
 * (eight peak at about +320 MiB unbounded; benchmarks/flood.mjs runs both).
 */
const MiB = 1024 * 1024;
const MAX_FRAME = 32 * MiB;
const FRAMES = 8;
/** Node's heap and socket read buffers awaiting collection; measured excess 25-31 MiB (NOTES.md). */
const MARGIN = 64 * MiB;

let report: FloodReport;

beforeAll(async () => {
  report = await runFlood({ cli: CLI, maxFrameBytes: MAX_FRAME, frames: FRAMES, stallMs: 3000, logger: createLogger({ name: 'flood-test', level: 'error' }) });
}, 90000);

it('keeps the flooded worker under baseline + maxQueuedBytes + 2 × maxFrameBytes + margin', () => {
  const bound = report.baselineRssBytes + report.maxQueuedBytes + 2 * MAX_FRAME + MARGIN;
  const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
  const figures = `baseline ${mib(report.baselineRssBytes)}, peak ${mib(report.peakRssBytes)}, bound ${mib(bound)}`;
  expect({ figures, underBound: report.peakRssBytes < bound }).toEqual({ figures, underBound: true });
});

it('throttles the sender instead of reading everything it sends', () => {
  expect(report.ended).toBe('stalled');
  expect(report.framesWritten).toBeLessThan(FRAMES);
  expect(report.stuckBytes).toBeGreaterThan(0);
});

it('leaves the worker alive and computing the same answer while the link is still jammed', () => {
  expect(report.afterJobError).toBeNull();
  expect(report.hashAfter).toBe(report.hashBefore);
  expect(report.alive).toBe(true);
});
