import { InboundBudget } from './inbound-budget';

test('reaching the limit reports full once; falling below it reports not full; releases are idempotent', () => {
  const changes: boolean[] = [];
  const budget = new InboundBudget(100, (full) => changes.push(full));
  const a = budget.hold(60);
  expect(changes).toEqual([]);
  const b = budget.hold(70); // counted first, then checked: up to limit + one frame
  expect(changes).toEqual([true]);
  expect(budget).toMatchObject({ queuedBytes: 130, peakQueuedBytes: 130, isFull: true, readPauses: 1 });
  const c = budget.hold(10);
  expect(changes).toEqual([true]);
  b();
  b();
  expect(budget.queuedBytes).toBe(70);
  expect(changes).toEqual([true, false]);
  a();
  c();
  expect(budget).toMatchObject({ queuedBytes: 0, peakQueuedBytes: 140, isFull: false, readPauses: 1 });
});
