// The process-kubelet's stand-in for images: a JSON file mapping an image reference to a local
// command (images.json next to this file by default; KVSTORE_IMAGE_MAP or an option overrides it).
import fs from 'node:fs';
import path from 'node:path';

export interface ImageEntry {
  /** Plays the image ENTRYPOINT; replaced by a container's `command`. */
  readonly command: readonly string[];
  /** Plays the image CMD; replaced by a container's `args`, dropped when `command` is given. */
  readonly args?: readonly string[];
  readonly workingDir?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export type ImageMap = ReadonlyMap<string, ImageEntry>;

export const DEFAULT_IMAGE_MAP = path.join(import.meta.dirname, 'images.json');

function substitute(value: string, repoRoot: string): string {
  return value.replaceAll('{repo}', repoRoot);
}

export function loadImageMap(file: string, repoRoot: string): ImageMap {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { images?: Record<string, ImageEntry> };
  const map = new Map<string, ImageEntry>();
  for (const [image, entry] of Object.entries(raw.images ?? {})) {
    if (!Array.isArray(entry.command) || entry.command.length === 0) {
      throw new Error(`${file}: image ${image} needs a non-empty command`);
    }
    map.set(image, {
      command: entry.command.map((c: unknown) => substitute(String(c), repoRoot)),
      ...(entry.args !== undefined ? { args: entry.args.map((a) => substitute(a, repoRoot)) } : {}),
      ...(entry.workingDir !== undefined ? { workingDir: substitute(entry.workingDir, repoRoot) } : {}),
      ...(entry.env !== undefined
        ? { env: Object.fromEntries(Object.entries(entry.env).map(([k, v]) => [k, substitute(v, repoRoot)])) }
        : {}),
    });
  }
  return map;
}

/** Exact reference first, then the same name with any tag (docker.io/ prefixes ignored). */
export function resolveImage(map: ImageMap, image: string): ImageEntry | undefined {
  const exact = map.get(image);
  if (exact !== undefined) return exact;
  const normalised = image.replace(/^(docker\.io\/)?(library\/)?/, '');
  return map.get(normalised);
}
