import { blockVisibility, causalBias } from './mask';

describe('masking from global positions', () => {
  const pos = (...p: number[]) => Int32Array.from(p);

  test.each([
    ['keys all at or before every query', pos(5, 9), pos(0, 5), true, 'all'],
    ['keys all after every query', pos(0, 3), pos(4, 9), true, 'none'],
    ['a single visible pair at the corner', pos(0, 4), pos(4, 9), true, 'partial'],
    ['overlapping ranges', pos(0, 4), pos(2, 3), true, 'partial'],
    ['striped: query 0 vs keys 1, 5', pos(0, 4), pos(1, 5), true, 'partial'],
    ['unsorted positions still use min/max', pos(9, 2), pos(3, 1), true, 'partial'],
    ['non-causal sees everything', pos(0), pos(100), false, 'all'],
    ['no keys (uneven shard)', pos(1, 2), pos(), false, 'none'],
    ['no queries', pos(), pos(1), true, 'none'],
  ] as const)('%s -> %s', (_name, posQ, posK, causal, want) => {
    expect(blockVisibility(posQ, posK, causal)).toBe(want);
  });

  test('bias is 0 where posK <= posQ and -Infinity elsewhere, row-major [Sq, Sk]', () => {
    expect(Array.from(causalBias(pos(1, 4), pos(0, 2, 4)))).toEqual([0, -Infinity, -Infinity, 0, 0, 0]);
  });
});
