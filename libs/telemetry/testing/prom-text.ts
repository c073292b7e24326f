/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests: it
 * throws on any line the format does not allow, instead of skipping it.
 *   # HELP <name> <docstring, escapes \\ and \n>
 *   # TYPE <name> counter|gauge|histogram|summary|untyped   (once, before the family's samples)
 *   <name>[{<label>="<value, escapes \\ \" \n>",...}] <float> [<int64 ms timestamp>]
 * A family's samples must be contiguous, no series may repeat, and the text ends with "\n".
 * Floats are read as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case).
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help?: string;
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+|inf|infinity|nan)$/i;
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

export function parsePromText(text: string): Map<string, PromFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition text must end with a newline');
  const families = new Map<string, PromFamily>();
  const seriesSeen = new Set<string>();
  const closed = new Set<string>();
  let current: string | null = null;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const where = `line ${i + 1} ${JSON.stringify(line)}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
      const family = familyFor(name, where);
      if (kind === 'HELP') {
        if (family.help !== undefined) throw new Error(`${where}: second HELP`);
        family.help = unescape(rest, false, where);
      } else {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        if (family.type !== 'untyped' || family.samples.length > 0) throw new Error(`${where}: TYPE repeated or after samples`);
        family.type = rest;
      }
      return;
    }
    const sample = parseSample(line, where);
    const family = familyFor(familyName(sample.name), where);
    family.samples.push(sample);
    const key = `${sample.name}{${Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (seriesSeen.has(key)) throw new Error(`${where}: series ${key} repeated`);
    seriesSeen.add(key);
  });
  return families;

  function familyName(sampleName: string): string {
    for (const family of families.values()) {
      if (family.name === sampleName) return family.name;
      for (const suffix of SUFFIXES[family.type] ?? []) if (sampleName === family.name + suffix) return family.name;
    }
    return sampleName;
  }

  function familyFor(name: string, where: string): PromFamily {
    let family = families.get(name);
    if (!family) {
      if (closed.has(name)) throw new Error(`${where}: family ${name} is not contiguous`);
      family = { name, type: 'untyped', samples: [] };
      families.set(name, family);
    }
    if (current !== name) {
      if (current !== null) closed.add(current);
      if (closed.has(name)) throw new Error(`${where}: family ${name} is not contiguous`);
      current = name;
    }
    return family;
  }
}

function parseSample(line: string, where: string): PromSample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (-?\d+))?$/.exec(line);
  if (!m) throw new Error(`${where}: not a sample line`);
  const [, name, labelText, valueText, ts] = m;
  if (!FLOAT.test(valueText)) throw new Error(`${where}: value ${valueText} is not a float`);
  const labels = labelText === undefined ? {} : parseLabels(labelText.slice(1, -1), where);
  const value = /nan/i.test(valueText) ? NaN : /inf/i.test(valueText) ? (valueText.startsWith('-') ? -Infinity : Infinity) : Number(valueText);
  return ts === undefined ? { name, labels, value } : { name, labels, value, timestampMs: Number(ts) };
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,?)/.exec(rest);
    if (!m || !LABEL_NAME.test(m[1])) throw new Error(`${where}: bad label at ${JSON.stringify(rest)}`);
    if (m[1] in labels) throw new Error(`${where}: label ${m[1]} repeated`);
    labels[m[1]] = unescape(m[2], true, where);
    rest = rest.slice(m[0].length);
    if (m[3] === '' && rest.length > 0) throw new Error(`${where}: labels not separated by a comma`);
  }
  return labels;
}

function unescape(s: string, quoteAllowed: boolean, where: string): string {
  if (/(?:^|[^\\])(?:\\\\)*\\$/.test(s)) throw new Error(`${where}: text ends inside an escape`);
  return s.replace(/\\(.)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quoteAllowed) return '"';
    throw new Error(`${where}: bad escape \\${c}`);
  });
}
