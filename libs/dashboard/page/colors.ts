/**
 * One palette for every chart and the timeline, so a color means the same thing everywhere:
 * blues compute, red waiting (exposed communication), greens transfers, amber the all-reduce.
 */
export const COLORS = {
  raw: '#9ca3af',
  loss: '#1d4ed8',
  eval: '#db2777',
  lr: '#0891b2',
  grad: '#7c3aed',
  accuracy: '#059669',
  tokens: '#2563eb',
  flops: '#ea580c',
  // Categories of work (timeline spans and the step split).
  segment: '#60a5fa',
  kernel: '#1d4ed8',
  optimizer: '#8b5cf6',
  send: '#16a34a',
  recv: '#0d9488',
  allreduce: '#f59e0b',
  wait: '#dc2626',
  checkpoint: '#6b7280',
  step: '#e5e7eb',
} as const;

/** The timeline's categories (trace.jsonl `cat`), in legend order, with what they mean. */
export const CATEGORIES: ReadonlyArray<{ cat: string; color: string; label: string }> = [
  { cat: 'segment', color: COLORS.segment, label: 'layer compute' },
  { cat: 'kernel', color: COLORS.kernel, label: 'attention kernel' },
  { cat: 'send', color: COLORS.send, label: 'send' },
  { cat: 'recv', color: COLORS.recv, label: 'receive' },
  { cat: 'wait', color: COLORS.wait, label: 'wait (exposed)' },
  { cat: 'allreduce', color: COLORS.allreduce, label: 'all-reduce' },
  { cat: 'optimizer', color: COLORS.optimizer, label: 'optimizer' },
];
