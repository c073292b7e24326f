/** Small helpers shared by the bench reports. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Rounds for JSON: finite numbers to `digits` significant digits, anything else to null. */
export function sig(x: number | null | undefined, digits = 4): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  return Number(x.toPrecision(digits));
}

/** Columns padded to the widest cell; numbers right-aligned, text left-aligned. */
export function formatTable(rows: ReadonlyArray<ReadonlyArray<string>>, rightAligned: ReadonlyArray<boolean> = []): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n');
}

export function fmt(x: number | null, digits = 1): string {
  return x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatRate(bytesPerSec: number | null): string {
  return bytesPerSec === null ? '-' : `${(bytesPerSec / 1e9).toFixed(2)} GB/s`;
}

/** "1024" -> 1024, "32K" -> 32768, "1M" -> 1048576. */
export function parseTokens(raw: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(raw.trim());
  if (!m) return NaN;
  const scale = m[2] === '' ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  return Number(m[1]) * scale;
}

export function formatTokens(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}
