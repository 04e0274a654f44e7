// Unpacked layers in the store, made once per layer blob however many images or
// concurrent commands want it: under the layer's lock, into a temporary directory,
// checked against the blob's digest and the config's diff_id, then renamed into
// place. A present layers/sha256/<hex> directory is therefore always complete.
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs } from "../util/node.ts";
import { type Digest, DigestWriter, hexOf, verifyDigest } from "./digest.ts";
import { compressionOf, type Descriptor } from "./manifest.ts";
import { readChunks, type Store } from "./store.ts";
import { unpackLayer } from "./unpack.ts";

/** The blob's chunks, hashed on the way; `check` throws unless they were exactly the blob `d`. */
function verifiedChunks(store: Store, d: Digest): { chunks: AsyncIterable<Uint8Array>; check(): void } {
  const h = new DigestWriter();
  async function* chunks(): AsyncIterable<Uint8Array> {
    for await (const c of readChunks(store.blobPath(d))) {
      h.update(c);
      yield c;
    }
  }
  return { chunks: chunks(), check: () => verifyDigest(d, h.digest(), `layer ${d}: blob in the store`) };
}

/**
 * Downloads a layer and unpacks it in the same pass: the bytes go to the blob's
 * temporary file and to the unpacker together. The layer's directory is renamed into
 * place only after the store has verified the blob (and the unpacker the diff_id).
 */
export async function fetchLayer(
  store: Store,
  layer: Descriptor,
  diffId: Digest | undefined,
  download: () => AsyncIterable<Uint8Array>,
  warn: (msg: string) => void,
): Promise<void> {
  if (store.hasBlob(layer.digest)) {
    await ensureLayer(store, layer, diffId, warn);
    return;
  }
  await store.withLock(`layer-${hexOf(layer.digest)}`, async () => {
    if (store.hasLayer(layer.digest)) {
      await store.putStream(layer.digest, download, `layer ${layer.digest}`);
      return;
    }
    await intoTemporary(store, layer, async (tmp) => {
      const wrote = await store.putStream(layer.digest, download, `layer ${layer.digest}`, (chunks) =>
        unpackLayer(chunks, unpackOptions(tmp, layer, diffId, warn)),
      );
      // Another process stored the blob meanwhile: unpack from the store instead.
      if (!wrote) await unpackFromBlob(store, layer, diffId, tmp, warn);
    });
  });
}

function unpackOptions(dest: string, layer: Descriptor, diffId: Digest | undefined, warn: (msg: string) => void) {
  return {
    dest,
    compression: compressionOf(layer.mediaType),
    diffId,
    privileged: (process.geteuid?.() ?? 0) === 0,
    what: `layer ${layer.digest.slice(0, 19)}`,
    warn,
  };
}

async function unpackFromBlob(store: Store, layer: Descriptor, diffId: Digest | undefined, dest: string, warn: (msg: string) => void): Promise<void> {
  const src = verifiedChunks(store, layer.digest);
  await unpackLayer(src.chunks, unpackOptions(dest, layer, diffId, warn));
  src.check();
}

/** Runs `fill` on a fresh temporary directory, then renames it to the layer's place; removes it on failure. */
async function intoTemporary(store: Store, layer: Descriptor, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = store.tempPath("layer");
  try {
    fs().mkdirSync(tmp, 0o755);
    await fill(tmp);
    fs().renameSync(tmp, store.layerPath(layer.digest));
  } catch (e) {
    fs().rmSync(tmp, { recursive: true, force: true });
    if (e instanceof UserError) throw e;
    throw fsError(`layer ${layer.digest}`, e);
  }
}

/** The layer's directory in the store, unpacking it first when missing. */
export async function ensureLayer(store: Store, layer: Descriptor, diffId: Digest | undefined, warn: (msg: string) => void): Promise<string> {
  const dir = store.layerPath(layer.digest);
  if (store.hasLayer(layer.digest)) return dir;
  await store.withLock(`layer-${hexOf(layer.digest)}`, async () => {
    if (store.hasLayer(layer.digest)) return;
    if (!store.hasBlob(layer.digest)) throw new UserError(`layer ${layer.digest} is missing from the store (import or pull the image again)`);
    await intoTemporary(store, layer, (tmp) => unpackFromBlob(store, layer, diffId, tmp, warn));
  });
  return dir;
}
