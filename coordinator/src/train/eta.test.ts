import { etaSec } from './train-run';

/** The progress line's ETA: the rate of the steps this session ran, over the work still to do. */
describe('etaSec', () => {
  const stages = [
    { seqLen: 128, batchSize: 8, steps: 10 }, // 1024 tokens a step
    { seqLen: 4096, batchSize: 1, steps: 10 }, // 4096 tokens a step
  ];

  it('weights the steps left by their tokens', () => {
    // 5 steps of stage 1 (5·1024 tokens) in 5 s: 1 s per 1024 tokens; left: 5·1024 + 10·4096.
    expect(etaSec(stages, 0, 4, 5)).toBeCloseTo(5 + 40, 6);
  });

  it('after a resume, counts only the steps timed since it (not those of an earlier session)', () => {
    // Resumed at step 12; steps 13 and 14 (2·4096 tokens) took 8 s: 6 steps left at 4 s each.
    expect(etaSec(stages, 12, 13, 8)).toBeCloseTo(24, 6);
  });

  it('is 0 before any step was timed', () => {
    expect(etaSec(stages, 12, 11, 3)).toBe(0);
  });
});
