// Image archives built in the tests, from entry lists or a directory: layer tars
// (plain, gzip or zstd), then docker-save tarballs, oci-archive tarballs or OCI
// layout directories around them. No network, no docker.
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { pack } from "tar-stream";

export interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "fifo";
  content?: string | Uint8Array;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
}

export async function tarOf(entries: readonly TarEntry[]): Promise<Uint8Array> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on("end", resolve);
    p.on("error", reject);
  });
  for (const e of entries) {
    const type = e.type ?? "file";
    const body = type === "file" ? Buffer.from(e.content ?? "") : Buffer.alloc(0);
    const mode = e.mode ?? (type === "directory" ? 0o755 : 0o644);
    p.entry(
      { name: e.name, type, mode, uid: e.uid ?? 0, gid: e.gid ?? 0, linkname: e.linkname, devmajor: e.devmajor, devminor: e.devminor, size: body?.length ?? 0 },
      body,
    );
  }
  p.finalize();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

/** A directory's tree as entries (regular files, directories, symlinks). */
export function entriesOfDir(dir: string, prefix = ""): TarEntry[] {
  const out: TarEntry[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(join(dir, rel));
    if (st.isDirectory()) {
      out.push({ name: rel, type: "directory", mode: st.mode & 0o7777 });
      out.push(...entriesOfDir(dir, rel));
    } else if (st.isSymbolicLink()) out.push({ name: rel, type: "symlink", linkname: readlinkSync(join(dir, rel)) });
    else if (st.isFile()) out.push({ name: rel, content: readFileSync(join(dir, rel)), mode: st.mode & 0o7777 });
  }
  return out;
}

export type Compression = "none" | "gzip" | "zstd";

const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

export interface ImageSpec {
  /** Uncompressed layer tars, bottom first. */
  layers: Uint8Array[];
  compression?: Compression[];
  config?: Record<string, unknown>;
  /** docker save's RepoTags entry / OCI ref name. */
  name?: string;
  /** The config's diff_ids, when they must differ from the layers' digests. */
  diffIds?: string[];
}

function compress(t: Uint8Array, c: Compression): Uint8Array {
  if (c === "gzip") return new Uint8Array(gzipSync(t));
  if (c === "zstd") return new Uint8Array(zstdCompressSync(t));
  return t;
}

const LAYER_TYPE: Record<Compression, string> = {
  none: "application/vnd.oci.image.layer.v1.tar",
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};

function configOf(spec: ImageSpec): Uint8Array {
  const config = {
    architecture: process.arch === "arm64" ? "arm64" : "amd64",
    os: "linux",
    config: spec.config ?? {},
    rootfs: { type: "layers", diff_ids: spec.diffIds ?? spec.layers.map((l) => `sha256:${sha(l)}`) },
  };
  return new TextEncoder().encode(JSON.stringify(config));
}

/** A docker save tarball (legacy layout: <id>/layer.tar, <id>.json, manifest.json). */
export async function dockerSave(spec: ImageSpec): Promise<Uint8Array> {
  const cfg = configOf(spec);
  const entries: TarEntry[] = [{ name: `${sha(cfg)}.json`, content: cfg }];
  const layers: string[] = [];
  spec.layers.forEach((l, i) => {
    const id = sha(new TextEncoder().encode(`${i}:${sha(l)}`));
    entries.push({ name: id, type: "directory" }, { name: `${id}/layer.tar`, content: compress(l, spec.compression?.[i] ?? "none") });
    layers.push(`${id}/layer.tar`);
  });
  entries.push({ name: "manifest.json", content: JSON.stringify([{ Config: `${sha(cfg)}.json`, RepoTags: spec.name ? [spec.name] : null, Layers: layers }]) });
  return tarOf(entries);
}

/** An OCI layout's index.json naming one blob (a manifest or an index), with a ref name when given. */
function layoutIndex(mediaType: string, blob: Uint8Array, name?: string): Record<string, unknown> {
  const annotations = name ? { annotations: { "org.opencontainers.image.ref.name": name } } : {};
  return { schemaVersion: 2, manifests: [{ mediaType, digest: `sha256:${sha(blob)}`, size: blob.length, ...annotations }] };
}

/** An OCI image layout as entries (for an oci-archive tarball or a directory). */
export function ociEntries(spec: ImageSpec): TarEntry[] {
  const cfg = configOf(spec);
  const blobs: TarEntry[] = [{ name: `blobs/sha256/${sha(cfg)}`, content: cfg }];
  const layers = spec.layers.map((l, i) => {
    const c = spec.compression?.[i] ?? "none";
    const b = compress(l, c);
    blobs.push({ name: `blobs/sha256/${sha(b)}`, content: b });
    return { mediaType: LAYER_TYPE[c], digest: `sha256:${sha(b)}`, size: b.length };
  });
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${sha(cfg)}`, size: cfg.length },
      layers,
    }),
  );
  blobs.push({ name: `blobs/sha256/${sha(manifest)}`, content: manifest });
  const index = layoutIndex("application/vnd.oci.image.manifest.v1+json", manifest, spec.name);
  return [{ name: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' }, { name: "index.json", content: JSON.stringify(index) }, ...blobs];
}

export async function ociArchive(spec: ImageSpec): Promise<Uint8Array> {
  return tarOf(ociEntries(spec));
}

export function ociLayoutDir(spec: ImageSpec, dir: string): void {
  for (const e of ociEntries(spec)) {
    const p = join(dir, e.name);
    mkdirSync(join(p, ".."), { recursive: true });
    writeFileSync(p, e.content ?? "");
  }
}

/**
 * An OCI layout whose one entry (ref name `name`) is an index of several images, each
 * for its platform: what `skopeo copy --all` pushes as a multi-arch image.
 */
export function ociMultiArchDir(images: { spec: ImageSpec; platform: { os: string; architecture: string } }[], name: string, dir: string): void {
  const blobs = new Map<string, string | Uint8Array>();
  const manifests = images.map(({ spec, platform }) => {
    const entries = ociEntries({ ...spec, name: undefined });
    for (const e of entries) if (e.name.startsWith("blobs/")) blobs.set(e.name, e.content ?? "");
    const index = JSON.parse(String(entries.find((e) => e.name === "index.json")!.content)) as { manifests: Record<string, unknown>[] };
    return { ...index.manifests[0], platform };
  });
  const nested = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
  blobs.set(`blobs/sha256/${sha(nested)}`, nested);
  const top = layoutIndex("application/vnd.oci.image.index.v1+json", nested, name);
  const files: [string, string | Uint8Array][] = [["oci-layout", '{"imageLayoutVersion":"1.0.0"}'], ["index.json", JSON.stringify(top)], ...blobs];
  for (const [n, content] of files) {
    mkdirSync(join(dir, n, ".."), { recursive: true });
    writeFileSync(join(dir, n), content);
  }
}
