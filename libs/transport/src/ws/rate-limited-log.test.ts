import { RateLimitedLog } from './rate-limited-log';

describe('RateLimitedLog', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function make(limit = 5, windowMs = 60_000) {
    const lines: string[] = [];
    const log = new RateLimitedLog({ limit, windowMs, write: (l) => lines.push(l), summary: (n, ms) => `${n} more in ${ms} ms` });
    return { log, lines };
  }

  test('writes the first `limit` events of a window, then one summary when the window ends', () => {
    const { log, lines } = make();
    for (let i = 0; i < 1000; i++) log.note(() => `event ${i}`);
    expect(lines).toEqual(['event 0', 'event 1', 'event 2', 'event 3', 'event 4']);
    expect(log.total).toBe(1000);
    jest.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(6);
    expect(lines[5]).toBe('995 more in 60000 ms');
  });

  test('a new window writes again; a window with nothing suppressed ends without a summary', () => {
    const { log, lines } = make(2, 1000);
    log.note(() => 'a');
    jest.advanceTimersByTime(1000);
    expect(lines).toEqual(['a']);
    for (const l of ['b', 'c', 'd']) log.note(() => l);
    jest.advanceTimersByTime(1000);
    log.note(() => 'e');
    expect(lines).toEqual(['a', 'b', 'c', '1 more in 1000 ms', 'e']);
    expect(log.total).toBe(5);
  });

  test('flush ends the window early with the time elapsed so far', () => {
    const { log, lines } = make(1, 60_000);
    log.note(() => 'first');
    log.note(() => 'second');
    jest.advanceTimersByTime(1500);
    log.flush();
    expect(lines).toEqual(['first', '1 more in 1500 ms']);
    log.flush(); // nothing pending: idempotent
    jest.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(2);
  });

  test('a line that is not written is not built', () => {
    const { log } = make(1);
    const build = jest.fn(() => 'x');
    for (let i = 0; i < 10; i++) log.note(build);
    expect(build).toHaveBeenCalledTimes(1);
    log.flush();
  });
});
