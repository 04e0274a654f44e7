// Images in the store: finding one by name, digest or id prefix, reading its
// manifest and config (verified against their digests on every read), and the
// lowerdirs a container's overlay needs.
import { UserError } from "../util/errors.ts";
import { type Digest, isDigest } from "./digest.ts";
import { ensureLayer } from "./layers.ts";
import { type ImageConfig, isIndex, type Manifest, parseImageConfig, parseJson, parseManifest } from "./manifest.ts";
import { formatReference, parseReference } from "./reference.ts";
import type { Store } from "./store.ts";

export interface Image {
  digest: Digest;
  manifest: Manifest;
  config: ImageConfig;
  /** The names in the index that point at it. */
  names: string[];
}

/** The manifest digest `ref` names: a name in the index, a manifest digest, or a unique prefix of one (12+ hex digits). */
export function findImage(store: Store, ref: string): Digest | undefined {
  const index = store.readIndex();
  if (isDigest(ref)) return store.hasBlob(ref) ? ref : undefined;
  if (/^[0-9a-f]{12,64}$/.test(ref)) {
    const all = new Set([...index.values()].filter((d) => d.slice(7).startsWith(ref)));
    if (all.size > 1) throw new UserError(`image id ${ref} is ambiguous; give more digits`);
    const [only] = all;
    if (only) return only;
  }
  const r = parseReference(ref);
  if (r.digest) return store.hasBlob(r.digest) ? r.digest : undefined;
  return index.get(formatReference(r));
}

export function namesOf(store: Store, d: Digest): string[] {
  return [...store.readIndex()].filter(([, x]) => x === d).map(([n]) => n);
}

/** The image whose manifest is `d`, checked: manifest and config verified and parsed, one diff_id per layer. */
export function loadImage(store: Store, d: Digest): Image {
  const what = `image ${d.slice(0, 19)}`;
  const doc = parseJson(store.readBlob(d, `${what} manifest`), `${what} manifest`);
  if (isIndex(doc)) throw new UserError(`${what}: is an index, not an image manifest`);
  const manifest = parseManifest(doc, `${what} manifest`);
  const config = parseImageConfig(parseJson(store.readBlob(manifest.config.digest, `${what} config`), `${what} config`), `${what} config`);
  if (config.diffIds.length !== manifest.layers.length)
    throw new UserError(`${what}: the config lists ${config.diffIds.length} layers (diff_ids), the manifest ${manifest.layers.length}`);
  return { digest: d, manifest, config, names: namesOf(store, d) };
}

/** The image's layer directories, unpacked if needed, top layer first (overlayfs's lowerdir order). */
export async function lowerDirs(store: Store, img: Image, warn: (msg: string) => void): Promise<string[]> {
  const dirs: string[] = [];
  for (const [i, l] of img.manifest.layers.entries()) dirs.push(await ensureLayer(store, l, img.config.diffIds[i], warn));
  return dirs.reverse();
}

/** Opens `ref` for a run: a UserError naming the reference when it isn't in the store. */
export function requireImage(store: Store, ref: string): Image {
  const d = findImage(store, ref);
  if (!d) throw new UserError(`image ${ref}: not in the store (${store.root}); myuts import FILE first`);
  return loadImage(store, d);
}
