// `myuts pull`: manifest (an index resolved to one platform), config and layers
// from a registry into the store, layers downloaded in parallel and each verified
// by the store on its way in; the layers are unpacked, and the name is written
// last, so a failed pull leaves no name pointing at anything partial.
import { UserError } from "../util/errors.ts";
import type { Digest } from "./digest.ts";
import { loadImage, lowerDirs } from "./images.ts";
import { hostPlatform, isIndex, parseDescriptor, parseImageConfig, parseIndex, parseJson, parseManifest, type Platform, selectPlatform } from "./manifest.ts";
import { fetchLayer } from "./layers.ts";
import { formatReference, type Reference } from "./reference.ts";
import { Registry, type RegistryOptions } from "./registry.ts";
import type { Store } from "./store.ts";

/** What a pull reports as it goes (the CLI draws it: bars on a terminal, lines otherwise). */
export interface PullProgress {
  /** The layers to fetch, once the manifest is known. */
  layers(list: readonly { digest: Digest; size: number; present: boolean }[]): void;
  /** Bytes of a layer received so far. */
  bytes(digest: Digest, received: number): void;
  /** A layer is in the store (verified). */
  done(digest: Digest): void;
}

export interface PullOptions extends RegistryOptions {
  platform?: Platform;
  progress?: PullProgress;
  warn(msg: string): void;
}

export function pullImage(store: Store, ref: Reference, o: PullOptions): Promise<{ name: string; digest: Digest }> {
  return store.inUse(() => pullLocked(store, ref, o));
}

async function pullLocked(store: Store, ref: Reference, o: PullOptions): Promise<{ name: string; digest: Digest }> {
  store.sweepTemp();
  const reg = new Registry(ref, o);
  let { bytes, digest } = await reg.manifest(ref.digest ?? ref.tag ?? "latest", ref.digest);
  let doc = parseJson(bytes, "manifest");
  if (isIndex(doc)) {
    const chosen = selectPlatform(parseIndex(doc, `${formatReference(ref)} index`), formatReference(ref), o.platform ?? hostPlatform());
    ({ bytes, digest } = await reg.manifest(chosen.digest, chosen.digest));
    doc = parseJson(bytes, "manifest");
    if (isIndex(doc)) throw new UserError(`${formatReference(ref)}: an index inside an index is not supported`);
  }
  const manifest = parseManifest(doc, `${formatReference(ref)} manifest`);
  const config = parseDescriptor(manifest.config, "config");
  await store.putStream(config.digest, () => reg.blob(config.digest, config.size), `${formatReference(ref)} config`);
  const what = `${formatReference(ref)} config`;
  const imageConfig = parseImageConfig(parseJson(store.readBlob(config.digest, what), what), what);
  if (imageConfig.diffIds.length !== manifest.layers.length)
    throw new UserError(`${what}: lists ${imageConfig.diffIds.length} layers (diff_ids), the manifest ${manifest.layers.length}`);
  o.progress?.layers(manifest.layers.map((l) => ({ digest: l.digest, size: l.size, present: store.hasBlob(l.digest) })));
  // Every download settles before a failure is reported: each removes its own temporary file.
  const settled = await Promise.allSettled(
    manifest.layers.map(async (l, i) => {
      // Each layer unpacks as it downloads (the config's diff_ids are known already).
      await fetchLayer(store, l, imageConfig.diffIds[i], () => reg.blob(l.digest, l.size, (n) => o.progress?.bytes(l.digest, n)), o.warn);
      o.progress?.done(l.digest);
    }),
  );
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
  await store.putBytes(bytes, digest);
  await lowerDirs(store, loadImage(store, digest), o.warn);
  const name = formatReference(ref);
  await store.updateIndex((index) => index.set(name, digest));
  return { name, digest };
}
