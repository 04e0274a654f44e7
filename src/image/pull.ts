// `myuts pull`: manifest (an index resolved to one platform), config and layers
// from a registry into the store, layers downloaded in parallel and each verified
// by the store on its way in; the layers are unpacked, and the name is written
// last, so a failed pull leaves no name pointing at anything partial.
import { UserError } from "../util/errors.ts";
import type { Digest } from "./digest.ts";
import { loadImage, lowerDirs } from "./images.ts";
import { hostPlatform, isIndex, parseDescriptor, parseIndex, parseJson, parseManifest, type Platform, selectPlatform } from "./manifest.ts";
import { formatReference, type Reference } from "./reference.ts";
import { Registry, type RegistryOptions } from "./registry.ts";
import type { Store } from "./store.ts";

export interface PullOptions extends RegistryOptions {
  platform?: Platform;
  /** A line per step (plain progress). */
  say(line: string): void;
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
  // Every download settles before a failure is reported: each removes its own temporary file.
  const settled = await Promise.allSettled(
    manifest.layers.map(async (l) => {
      if (store.hasBlob(l.digest)) return o.say(`layer ${l.digest.slice(7, 19)}: already present`);
      const started = performance.now();
      await store.putStream(l.digest, () => reg.blob(l.digest, l.size), `layer ${l.digest}`);
      const s = (performance.now() - started) / 1000;
      o.say(`layer ${l.digest.slice(7, 19)}: ${(l.size / 1e6).toFixed(1)} MB in ${s.toFixed(1)} s`);
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
