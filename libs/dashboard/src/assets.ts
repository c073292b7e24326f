import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';

/** The page's built files (scripts/build.mjs bundles them into dist/dashboard/). */
export interface PageAssets {
  /** Where they were found, or null when the page was not built. */
  dir: string | null;
  /** By file name: body and content type. */
  files: ReadonlyMap<string, { body: Buffer; type: string }>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** dist/dashboard seen from the bundled CLI (dist/ringtrain.cjs) and from these sources (tests). */
export function assetCandidates(): string[] {
  return [join(__dirname, 'dashboard'), resolve(__dirname, '../../../dist/dashboard')];
}

/** Loads the built page into memory (some hundred KiB): served without touching the disk again. */
export function loadPageAssets(dirs: readonly string[] = assetCandidates()): PageAssets {
  const dir = dirs.find((d) => existsSync(join(d, 'index.html'))) ?? null;
  const files = new Map<string, { body: Buffer; type: string }>();
  if (dir !== null) {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const type = TYPES[extname(name)];
      if (type === undefined || !statSync(path).isFile()) continue;
      files.set(name, { body: readFileSync(path), type });
    }
  }
  return { dir, files };
}
