import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What Dawn needs below it on Linux, checked without loading Dawn: the Vulkan loader
 * (libvulkan.so.1) and at least one driver manifest (ICD). Dawn itself prints warnings to stderr
 * when it finds neither, so `auto` asks here first and never wakes Dawn on a machine without
 * Vulkan.
 */
export interface VulkanPresence {
  loader: string | null;
  /** Driver manifests found (VK_DRIVER_FILES / VK_ICD_FILENAMES, or the standard folders). */
  icds: string[];
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib64', '/lib', '/usr/local/lib'];
const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/local/etc/vulkan/icd.d'];

export function vulkanPresence(env: NodeJS.ProcessEnv = process.env): VulkanPresence {
  const libDirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LIB_DIRS];
  const loader = libDirs.map((d) => path.join(d, 'libvulkan.so.1')).find(exists) ?? null;
  const listed = (env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES || '').split(':').filter(Boolean);
  const icds = listed.length > 0 ? listed.filter(exists) : ICD_DIRS.flatMap(jsonFilesIn);
  return { loader, icds };
}

/** The Debian commands (and their reasons) that would give this machine what it lacks. */
export function vulkanHelp(p: VulkanPresence): string {
  const parts: string[] = [];
  if (!p.loader) parts.push('no Vulkan loader (libvulkan.so.1): `apt-get install libvulkan1`');
  if (p.icds.length === 0) {
    parts.push(
      'no Vulkan driver manifest (ICD) in VK_DRIVER_FILES/VK_ICD_FILENAMES or /usr/share/vulkan/icd.d, /etc/vulkan/icd.d: ' +
        'on NVIDIA the driver installs nvidia_icd.json (in a container, NVIDIA_DRIVER_CAPABILITIES must include "graphics", e.g. "compute,utility,graphics"); ' +
        'for a software GPU, Mesa ≥ 23 lavapipe (Debian bookworm: mesa-vulkan-drivers from bookworm-backports; `bash scripts/lavapipe.sh` unpacks it privately)',
    );
  }
  return parts.join('; ');
}

function exists(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function jsonFilesIn(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}
