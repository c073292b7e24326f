import { stringify } from 'yaml';
import type { Manifest } from './manifests';

/** One manifest as a YAML document (no line folding: commands stay on one line each). */
export function renderManifest(manifest: Manifest): string {
  return stringify(manifest.object, { lineWidth: 0 });
}

/** Every manifest in one stream, `---` between documents: what `kubectl apply -f -` reads. */
export function renderManifests(manifests: readonly Manifest[]): string {
  return manifests.map(renderManifest).join('---\n');
}
