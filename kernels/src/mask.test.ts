import { RingtrainError } from '@ringtrain/core';
import { blockMask, blockVisibility, maskBias } from './mask';

const pos = (...p: number[]) => Int32Array.from(p);

describe('masking from global positions', () => {
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
    expect(Array.from(maskBias(pos(1, 4), pos(0, 2, 4), true))).toEqual([0, -Infinity, -Infinity, 0, 0, 0]);
  });

  test('non-causal without documents: a bias of zeros', () => {
    expect(Array.from(maskBias(pos(1, 4), pos(0, 2, 4), false))).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('masking by documents (packed sequences)', () => {
  test.each([
    // none
    ['no shared document, ids apart', pos(5, 6), pos(0, 1), true, pos(2, 2), pos(1, 1), 'none'],
    ['no shared document, non-causal', pos(0, 1), pos(0, 1), false, pos(3, 3), pos(4, 4), 'none'],
    ['id ranges overlap but no id is shared', pos(0, 1, 2), pos(0, 1, 2), false, pos(1, 3, 5), pos(0, 2, 4), 'none'],
    ['the shared document has only later keys', pos(0, 1, 2), pos(0, 1, 3, 4), true, pos(1, 1, 1), pos(0, 0, 1, 1), 'none'],
    ['causal none wins before documents are looked at', pos(0, 3), pos(4, 9), true, pos(1, 1), pos(1, 1), 'none'],
    ['empty blocks with documents', pos(), pos(1), true, pos(), pos(1), 'none'],
    // all
    ['one and the same document, keys earlier', pos(5, 9), pos(0, 5), true, pos(7, 7), pos(7, 7), 'all'],
    ['one and the same document, non-causal', pos(0, 1), pos(9, 4), false, pos(-2, -2), pos(-2, -2), 'all'],
    // partial
    ['one document, causal diagonal', pos(0, 1), pos(0, 1), true, pos(3, 3), pos(3, 3), 'partial'],
    ['a document boundary inside the block, keys earlier', pos(5, 9), pos(0, 5), true, pos(0, 1), pos(0, 0), 'partial'],
    ['two documents, non-causal', pos(0, 1), pos(0, 1), false, pos(0, 1), pos(0, 1), 'partial'],
    ['unsorted ids, one shared', pos(0, 1, 2), pos(0, 1, 2), false, pos(9, -4, 2), pos(5, 2, 100), 'partial'],
    ['striped with a document per stripe pair', pos(1, 5, 9), pos(0, 4, 8), true, pos(0, 1, 1), pos(0, 1, 2), 'partial'],
  ] as const)('%s -> %s', (_name, posQ, posK, causal, docQ, docK, want) => {
    expect(blockVisibility(posQ, posK, causal, docQ, docK)).toBe(want);
  });

  test('blockMask says which per-pair tests a partial block needs', () => {
    // Keys before queries, two documents: only the document test.
    expect(blockMask(pos(5, 9), pos(0, 5), true, pos(0, 1), pos(0, 0))).toEqual({ visibility: 'partial', causal: false, docs: true });
    // One document on both sides, causal diagonal: only the position test.
    expect(blockMask(pos(0, 1), pos(0, 1), true, pos(3, 3), pos(3, 3))).toEqual({ visibility: 'partial', causal: true, docs: false });
    expect(blockMask(pos(0, 1), pos(0, 1), true, pos(0, 1), pos(0, 1))).toEqual({ visibility: 'partial', causal: true, docs: true });
    expect(blockMask(pos(0, 1), pos(0, 1), false)).toEqual({ visibility: 'all', causal: false, docs: false });
    expect(blockMask(pos(0, 1), pos(0, 1), true)).toEqual({ visibility: 'partial', causal: true, docs: false });
  });

  test('blockVisibility is exact: "none" iff no visible pair, "all" iff every pair (random blocks)', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let trial = 0; trial < 2000; trial++) {
      const sq = 1 + rnd(5);
      const sk = 1 + rnd(5);
      const posQ = Int32Array.from({ length: sq }, () => rnd(12));
      const posK = Int32Array.from({ length: sk }, () => rnd(12));
      const docQ = Int32Array.from({ length: sq }, () => rnd(3) - 1);
      const docK = Int32Array.from({ length: sk }, () => rnd(3) - 1);
      const causal = rnd(2) === 1;
      const bias = maskBias(posQ, posK, causal, docQ, docK);
      const visible = Array.from(bias).filter((b) => b === 0).length;
      const want = visible === 0 ? 'none' : visible === bias.length ? 'all' : 'partial';
      expect({ trial, got: blockVisibility(posQ, posK, causal, docQ, docK) }).toEqual({ trial, got: want });
    }
  });

  test('bias hides other documents on top of the causal rule', () => {
    // Queries at 1 (doc 0) and 4 (doc 1); keys at 0 (doc 0), 2 (doc 1), 4 (doc 1).
    const docQ = pos(0, 1);
    const docK = pos(0, 1, 1);
    expect(Array.from(maskBias(pos(1, 4), pos(0, 2, 4), true, docQ, docK))).toEqual([0, -Infinity, -Infinity, -Infinity, 0, 0]);
    expect(Array.from(maskBias(pos(1, 4), pos(0, 2, 4), false, docQ, docK))).toEqual([0, -Infinity, -Infinity, -Infinity, 0, 0]);
    expect(Array.from(maskBias(pos(1, 4), pos(0, 2, 4), false, pos(1, 0), docK))).toEqual([-Infinity, 0, 0, 0, -Infinity, -Infinity]);
  });

  test('documents for one side only are refused with KERNEL_SHAPE', () => {
    expect(() => blockVisibility(pos(0), pos(0), true, pos(0))).toThrow(RingtrainError);
    expect(() => blockVisibility(pos(0), pos(0), true, undefined, pos(0))).toThrow(/docQ and docK must be given together/);
    expect(() => maskBias(pos(0), pos(0), true, pos(0))).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
  });
});
