import { RingtrainError } from '@ringtrain/core';

/**
 * The first host of a Slurm host list (SLURM_JOB_NODELIST): `gpu[07-09,12],login1` → `gpu07`,
 * `rack[1-2]-n[3-4]` → `rack1-n3`. Slurm names the batch host first, which is where the
 * coordinator runs. A list that is not in Slurm's syntax is refused, naming MASTER_ADDR as the way
 * around it.
 */
export function firstHost(nodelist: string): string {
  const first = topLevelItems(nodelist)[0];
  const host = first.replace(/\[([^\]]*)\]/g, (_, inner: string) => {
    const range = inner.split(',')[0];
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m) throw badList(nodelist, `"[${inner}]" is not a list of numbers and ranges`);
    return m[1];
  });
  if (host === '' || /[[\]\s]/.test(host)) throw badList(nodelist, 'it names no host');
  return host;
}

/** Splits at the commas outside brackets. */
function topLevelItems(list: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i];
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    if (depth < 0 || depth > 1) throw badList(list, 'its brackets do not pair up');
    if (ch === ',' && depth === 0) {
      items.push(list.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw badList(list, 'its brackets do not pair up');
  items.push(list.slice(start));
  return items.map((s) => s.trim());
}

function badList(list: string, why: string): RingtrainError {
  return new RingtrainError('BAD_NODELIST', `SLURM_JOB_NODELIST=${JSON.stringify(list)} cannot be read as a Slurm host list: ${why}`, {
    hint: 'set MASTER_ADDR to the coordinator\'s host (e.g. `scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1`)',
  });
}
