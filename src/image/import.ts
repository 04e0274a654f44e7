// `myuts import`: docker-save tarballs (legacy "<id>/layer.tar" and docker 25's
// OCI-shaped ones, via manifest.json), oci-archive tarballs and OCI layout
// directories. A tarball is first unpacked into a private staging directory under
// the store's tmp/ (regular files and directories only, names checked as for
// layers), then read like a directory. Every blob is verified against its digest on
// its way into the store; names are added to the index last, so a failed import
// leaves at most unreferenced blobs (`image prune` removes them), never a name
// pointing at something incomplete.
import { extract as tarExtract } from "tar-stream";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path, stream, zlib } from "../util/node.ts";
import { type Digest, DigestWriter, hexOf } from "./digest.ts";
import { entryParts } from "./entry-path.ts";
import { loadImage, lowerDirs } from "./images.ts";
import { type Descriptor, isIndex, MAX_JSON, MEDIA, parseDescriptor, parseIndex, parseJson, selectPlatform } from "./manifest.ts";
import { formatReference, parseReference } from "./reference.ts";
import { readChunks, type Store } from "./store.ts";
import { INFLATED_CHUNK } from "./unpack.ts";

export interface Imported {
  digest: Digest;
  names: string[];
}

const REF_NAME = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME = "io.containerd.image.name";

/** A file of the archive or layout, by a name the archive itself gave: checked, never followed out. */
function fileIn(root: string, name: string, what: string): string {
  const parts = entryParts(name, what);
  if (!parts.length) throw new UserError(`${what} ${JSON.stringify(name)}: not a file`);
  return path().join(root, ...parts);
}

function readSmall(file: string, what: string): Uint8Array {
  const c = fs().constants;
  let fd: number;
  try {
    fd = fs().openSync(file, c.O_RDONLY | c.O_NOFOLLOW | c.O_NONBLOCK);
  } catch (e) {
    throw fsError(what, e, "open");
  }
  try {
    const st = fs().fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${what}: not a regular file`);
    if (st.size > MAX_JSON) throw new UserError(`${what}: ${st.size} bytes is too big`);
    return fs().readFileSync(fd);
  } finally {
    fs().closeSync(fd);
  }
}

async function hashFile(file: string): Promise<Digest> {
  const h = new DigestWriter();
  for await (const c of readChunks(file)) h.update(c);
  return h.digest();
}

/** Unpacks the outer tarball (maybe gzip'd) into `dest`: files and directories only; links inside it become copies by hard link. */
async function stage(file: string, dest: string): Promise<void> {
  const head = Buffer.alloc(2);
  const fd = fs().openSync(file, "r");
  try {
    fs().readSync(fd, head, 0, 2, 0);
  } finally {
    fs().closeSync(fd);
  }
  const raw = stream().Readable.from(readChunks(file));
  const input = head[0] === 0x1f && head[1] === 0x8b ? raw.pipe(zlib().createGunzip({ chunkSize: INFLATED_CHUNK })) : raw;
  const ex = tarExtract();
  input.on("error", (e) => ex.destroy(e));
  input.pipe(ex);
  const links: { at: string[]; target: string[] }[] = [];
  const c = fs().constants;
  for await (const e of ex) {
    const h = e.header;
    try {
      const parts = entryParts(h.name, `${file}: entry`);
      if (!parts.length) continue;
      const p = path().join(dest, ...parts);
      fs().mkdirSync(path().dirname(p), { recursive: true, mode: 0o700 });
      if (h.type === "directory") fs().mkdirSync(p, { recursive: true, mode: 0o700 });
      else if (h.type === "file" || h.type === "contiguous-file") {
        // A name given twice: the later entry wins, as with tar itself.
        fs().rmSync(p, { force: true, recursive: true });
        const out = fs().openSync(p, c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of e as AsyncIterable<Uint8Array>) {
            let off = 0;
            while (off < chunk.length) off += fs().writeSync(out, chunk, off, chunk.length - off);
          }
        } finally {
          fs().closeSync(out);
        }
      } else if (h.type === "symlink" && h.linkname && !h.linkname.startsWith("/")) {
        // docker save links a layer shared by two images ("../<id>/layer.tar"): resolved inside the archive only.
        const joined = [...parts.slice(0, -1), ...h.linkname.split("/")];
        const resolved: string[] = [];
        let inside = true;
        for (const x of joined) {
          if (x === "..") inside = resolved.pop() !== undefined && inside;
          else if (x && x !== ".") resolved.push(x);
        }
        if (inside) links.push({ at: parts, target: resolved });
      } else if (h.type === "link" && h.linkname) links.push({ at: parts, target: entryParts(h.linkname, `${file}: hard link`) });
    } finally {
      e.resume();
    }
  }
  for (const l of links) {
    const t = path().join(dest, ...l.target);
    try {
      if (fs().lstatSync(t).isFile()) fs().linkSync(t, path().join(dest, ...l.at));
    } catch {
      // a link to nothing the archive holds: a manifest naming it fails later, with the name
    }
  }
}

/** Media type of a docker-save layer file, from its first bytes. */
function layerMediaType(file: string): string {
  const head = Buffer.alloc(4);
  const fd = fs().openSync(file, "r");
  try {
    fs().readSync(fd, head, 0, 4, 0);
  } finally {
    fs().closeSync(fd);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return MEDIA.ociLayerGzip;
  if (head.readUInt32LE(0) === 0xfd2fb528) return MEDIA.ociLayerZstd;
  return MEDIA.ociLayer;
}

/** docker save's manifest.json: the config and layers by file name; a manifest is written for each image. */
async function importDockerSave(store: Store, root: string): Promise<Imported[]> {
  const what = "manifest.json";
  const list = JSON.parse(new TextDecoder().decode(readSmall(path().join(root, "manifest.json"), what))) as unknown;
  if (!Array.isArray(list) || !list.length || list.length > 1024) throw new UserError(`${what}: expected a list of images`);
  const out: Imported[] = [];
  for (const [i, item] of list.entries()) {
    const w = `${what}[${i}]`;
    const { Config, RepoTags, Layers } = (item ?? {}) as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    if (typeof Config !== "string") throw new UserError(`${w}.Config: expected a file name`);
    if (!Array.isArray(Layers) || Layers.length > 128 || !Layers.every((l) => typeof l === "string")) throw new UserError(`${w}.Layers: expected file names`);
    const tags = Array.isArray(RepoTags) ? RepoTags.filter((t): t is string => typeof t === "string") : [];
    const configBytes = readSmall(fileIn(root, Config, `${w}.Config`), `${w}.Config`);
    parseJson(configBytes, `${w} config`);
    const config: Descriptor = { mediaType: MEDIA.ociConfig, digest: await store.putBytes(configBytes), size: configBytes.length };
    const layers: Descriptor[] = [];
    for (const l of Layers as string[]) {
      const f = fileIn(root, l, `${w}.Layers`);
      const d = await hashFile(f);
      await store.putFile(d, f, `layer ${l}`);
      layers.push({ mediaType: layerMediaType(f), digest: d, size: fs().statSync(f).size });
    }
    const manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers };
    const digest = await store.putBytes(new TextEncoder().encode(JSON.stringify(manifest)));
    out.push({ digest, names: tags.map((t) => formatReference(parseReference(t))) });
  }
  return out;
}

/** Copies a blob of an OCI layout into the store, verified; a manifest or index is also parsed. */
async function copyBlob(store: Store, root: string, d: Digest, what: string): Promise<void> {
  const f = path().join(root, "blobs/sha256", hexOf(d));
  await store.putFile(d, f, what);
}

/** Follows an index entry down to one image manifest (this host's platform in a nested index), copying what it passes. */
async function importManifest(store: Store, root: string, desc: Descriptor, depth = 0): Promise<Digest> {
  if (depth > 4) throw new UserError(`index ${desc.digest}: nested too deeply`);
  await copyBlob(store, root, desc.digest, `manifest ${desc.digest}`);
  const doc = parseJson(store.readBlob(desc.digest, "manifest"), `manifest ${desc.digest}`);
  if (isIndex(doc)) return importManifest(store, root, selectPlatform(parseIndex(doc, `index ${desc.digest}`), `index ${desc.digest}`), depth + 1);
  const m = doc as { config?: unknown; layers?: unknown };
  const config = parseDescriptor(m.config, "config");
  await copyBlob(store, root, config.digest, `config ${config.digest}`);
  if (!Array.isArray(m.layers)) throw new UserError(`manifest ${desc.digest}: no layers`);
  for (const [i, l] of m.layers.entries()) {
    const layer = parseDescriptor(l, `layers[${i}]`);
    await copyBlob(store, root, layer.digest, `layer ${layer.digest}`);
  }
  loadImage(store, desc.digest);
  return desc.digest;
}

/** The name an OCI layout gives an entry: containerd's full name, else a ref.name that is a whole reference. */
function ociName(desc: Descriptor): string | undefined {
  const full = desc.annotations?.[CONTAINERD_NAME] ?? desc.annotations?.[REF_NAME];
  if (!full || !/[:/@]/.test(full)) return undefined;
  try {
    return formatReference(parseReference(full));
  } catch {
    return undefined;
  }
}

async function importOciLayout(store: Store, root: string): Promise<Imported[]> {
  const layout = parseJson(readSmall(path().join(root, "oci-layout"), "oci-layout"), "oci-layout");
  if (typeof layout.imageLayoutVersion !== "string") throw new UserError("oci-layout: no imageLayoutVersion");
  const index = parseIndex(parseJson(readSmall(path().join(root, "index.json"), "index.json"), "index.json"), "index.json");
  if (!index.manifests.length) throw new UserError("index.json: holds no image");
  const out: Imported[] = [];
  for (const desc of index.manifests) {
    const digest = await importManifest(store, root, desc);
    const name = ociName(desc);
    out.push({ digest, names: name ? [name] : [] });
  }
  return out;
}

/**
 * Imports every image `source` (a tarball or a directory) holds; `name` tags a
 * single image. Layers are unpacked before any name is written.
 */
export function importImages(store: Store, source: string, name: string | undefined, warn: (msg: string) => void): Promise<Imported[]> {
  return store.inUse(() => importLocked(store, source, name, warn));
}

async function importLocked(store: Store, source: string, name: string | undefined, warn: (msg: string) => void): Promise<Imported[]> {
  store.sweepTemp();
  let st: import("node:fs").Stats;
  try {
    st = fs().statSync(source);
  } catch (e) {
    throw fsError(`import ${source}`, e, "stat");
  }
  let staging: string | undefined;
  let root = source;
  try {
    if (st.isFile()) {
      staging = store.tempPath("import");
      fs().mkdirSync(staging, 0o700);
      try {
        await stage(source, staging);
      } catch (e) {
        if (e instanceof UserError) throw e;
        if ((e as { syscall?: string }).syscall) throw fsError(`import ${source}`, e);
        throw new UserError(`import ${source}: not a tar archive (${e instanceof Error ? e.message : String(e)})`);
      }
      root = staging;
    } else if (!st.isDirectory()) throw new UserError(`import ${source}: not a file or directory`);
    const isOci = fs().existsSync(path().join(root, "oci-layout"));
    const isDocker = fs().existsSync(path().join(root, "manifest.json"));
    if (!isOci && !isDocker) throw new UserError(`import ${source}: neither a docker save archive (manifest.json) nor an OCI layout (oci-layout)`);
    // docker 25's save has both; its manifest.json names the repository tags.
    const found = isDocker ? await importDockerSave(store, root) : await importOciLayout(store, root);
    if (name !== undefined) {
      if (found.length !== 1) throw new UserError(`import ${source}: holds ${found.length} images; a name can only tag one`);
      found[0]!.names = [formatReference(parseReference(name))];
    }
    for (const f of found) await lowerDirs(store, loadImage(store, f.digest), warn);
    await store.updateIndex((index) => {
      for (const f of found) for (const n of f.names) index.set(n, f.digest);
    });
    return found;
  } finally {
    if (staging) fs().rmSync(staging, { recursive: true, force: true });
  }
}
