// Manifests, indexes and image configs (OCI image-spec and docker's schema 2),
// parsed as hostile input: every field is checked for its type, every digest for
// its form, before anything uses it. Only the fields myuts reads are kept.
import { UserError } from "../util/errors.ts";
import { type Digest, parseDigest } from "./digest.ts";

export const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export type Compression = "none" | "gzip" | "zstd";

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Manifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  manifests: Descriptor[];
}

/** The parts of an image config that decide how a container runs (docker's names). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config: {
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    WorkingDir?: string;
    User?: string;
    /** "80/tcp"-style keys (docker's config), sorted. */
    ExposedPorts?: string[];
    /** Absolute paths the image wants as volumes, sorted. */
    Volumes?: string[];
  };
  diffIds: Digest[];
}

/** Manifests, configs and indexes are small; anything bigger is refused before parsing. */
export const MAX_JSON = 4 << 20;
/** Layers per image: overlayfs stacks at most about 500 lowerdirs, and the mount data is one page. */
export const MAX_LAYERS = 128;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export function parseJson(bytes: Uint8Array, what: string): Obj {
  if (bytes.length > MAX_JSON) throw new UserError(`${what}: ${bytes.length} bytes is too big for a JSON document`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new UserError(`${what}: not valid JSON`);
  }
  if (!isObj(v)) throw new UserError(`${what}: not a JSON object`);
  return v;
}

function str(v: unknown, what: string, max = 4096): string {
  if (typeof v !== "string" || v.length > max) throw new UserError(`${what}: expected a string`);
  return v;
}

function optStr(v: unknown, what: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, what);
}

function strList(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 65536) throw new UserError(`${what}: expected a list of strings`);
  return v.map((x, i) => str(x, `${what}[${i}]`, 1 << 20));
}

function strMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new UserError(`${what}: expected an object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = str(x, `${what}.${k}`);
  return out;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObj(v)) throw new UserError(`${what}: expected a descriptor object`);
  const size = v.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw new UserError(`${what}.size: expected a byte count`);
  const d: Descriptor = { mediaType: str(v.mediaType ?? "", `${what}.mediaType`, 255), digest: parseDigest(v.digest, `${what}.digest`), size };
  if (v.platform !== undefined) {
    const p = v.platform;
    if (!isObj(p)) throw new UserError(`${what}.platform: expected an object`);
    d.platform = { architecture: str(p.architecture, `${what}.platform.architecture`, 64), os: str(p.os, `${what}.platform.os`, 64) };
    const variant = optStr(p.variant, `${what}.platform.variant`);
    if (variant) d.platform.variant = variant;
  }
  const ann = strMap(v.annotations, `${what}.annotations`);
  if (ann) d.annotations = ann;
  return d;
}

/** Whether a document is an index (OCI) or manifest list (docker) rather than one image's manifest. */
export function isIndex(doc: Obj): boolean {
  return doc.mediaType === MEDIA.ociIndex || doc.mediaType === MEDIA.dockerList || (doc.mediaType === undefined && Array.isArray(doc.manifests));
}

export function parseIndex(doc: Obj, what: string): ImageIndex {
  if (!Array.isArray(doc.manifests) || doc.manifests.length > 4096) throw new UserError(`${what}: manifests: expected a list`);
  return { manifests: doc.manifests.map((m, i) => parseDescriptor(m, `${what}.manifests[${i}]`)) };
}

export function parseManifest(doc: Obj, what: string): Manifest {
  if (doc.schemaVersion !== 2) throw new UserError(`${what}: schemaVersion ${JSON.stringify(doc.schemaVersion)} is not supported (only 2)`);
  const mediaType = str(doc.mediaType ?? MEDIA.ociManifest, `${what}.mediaType`, 255);
  if (mediaType !== MEDIA.ociManifest && mediaType !== MEDIA.dockerManifest) throw new UserError(`${what}: media type ${mediaType} is not an image manifest`);
  if (!Array.isArray(doc.layers) || doc.layers.length > MAX_LAYERS) throw new UserError(`${what}: layers: expected a list of at most ${MAX_LAYERS}`);
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `${what}.layers[${i}]`));
  for (const l of layers) compressionOf(l.mediaType, what);
  return { mediaType, config: parseDescriptor(doc.config, `${what}.config`), layers };
}

/** How a layer of this media type is compressed; foreign or unknown layer types are refused. */
export function compressionOf(mediaType: string, what = "layer"): Compression {
  switch (mediaType) {
    case MEDIA.ociLayer:
    case "application/vnd.docker.image.rootfs.diff.tar":
      return "none";
    case MEDIA.ociLayerGzip:
    case MEDIA.dockerLayer:
      return "gzip";
    case MEDIA.ociLayerZstd:
      return "zstd";
  }
  throw new UserError(`${what}: layer media type ${JSON.stringify(mediaType.slice(0, 100))} is not supported`);
}

export function parseImageConfig(doc: Obj, what: string): ImageConfig {
  const c = doc.config ?? {};
  if (!isObj(c)) throw new UserError(`${what}.config: expected an object`);
  const rootfs = doc.rootfs;
  if (!isObj(rootfs) || rootfs.type !== "layers" || !Array.isArray(rootfs.diff_ids))
    throw new UserError(`${what}.rootfs: expected {"type": "layers", "diff_ids": [...]}`);
  const out: ImageConfig = { config: {}, diffIds: rootfs.diff_ids.map((d, i) => parseDigest(d, `${what}.rootfs.diff_ids[${i}]`)) };
  for (const k of ["architecture", "os", "created"] as const) {
    const v = optStr(doc[k], `${what}.${k}`);
    if (v !== undefined) out[k] = v;
  }
  const entrypoint = strList(c.Entrypoint, `${what}.config.Entrypoint`);
  const cmd = strList(c.Cmd, `${what}.config.Cmd`);
  const env = strList(c.Env, `${what}.config.Env`);
  const workdir = optStr(c.WorkingDir, `${what}.config.WorkingDir`);
  const user = optStr(c.User, `${what}.config.User`);
  if (entrypoint) out.config.Entrypoint = entrypoint;
  if (cmd) out.config.Cmd = cmd;
  if (env) out.config.Env = env;
  if (workdir) out.config.WorkingDir = workdir;
  if (user) out.config.User = user;
  const ports = keysOf(c.ExposedPorts, `${what}.config.ExposedPorts`, /^\d{1,5}(\/(tcp|udp|sctp))?$/, "a port such as 80/tcp");
  const volumes = keysOf(c.Volumes, `${what}.config.Volumes`, /^\/[^\0]{0,4095}$/, "an absolute path");
  if (ports.length) out.config.ExposedPorts = ports;
  if (volumes.length) out.config.Volumes = volumes;
  return out;
}

/** The keys of a docker-style set ({"80/tcp": {}}), each checked against `shape`. */
function keysOf(v: unknown, what: string, shape: RegExp, expected: string): string[] {
  if (v === undefined || v === null) return [];
  if (!isObj(v) || Object.keys(v).length > 1024) throw new UserError(`${what}: expected an object`);
  const keys = Object.keys(v).sort();
  for (const k of keys) if (!shape.test(k) || /[\x00-\x1f\x7f]/.test(k)) throw new UserError(`${what}: ${JSON.stringify(k)} is not ${expected}`);
  return keys;
}

const GOARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

export function hostPlatform(): Platform {
  return { os: "linux", architecture: GOARCH[process.arch] ?? process.arch };
}

/** The index entry for `want` (the host's platform unless given), or a UserError listing what there is. */
export function selectPlatform(index: ImageIndex, what: string, want: Platform = hostPlatform()): Descriptor {
  const images = index.manifests.filter((m) => m.mediaType !== "" || m.platform);
  const match = images.find(
    (m) => m.platform?.os === want.os && m.platform.architecture === want.architecture && (!want.variant || m.platform.variant === want.variant),
  );
  if (match) return match;
  // An index without platforms (an OCI layout holding one image) means that image.
  const unplatformed = images.filter((m) => !m.platform);
  if (unplatformed.length === 1 && images.length === 1) return unplatformed[0]!;
  const have = images
    .map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ""}` : "unknown"))
    .join(", ");
  throw new UserError(`${what}: no image for ${want.os}/${want.architecture} (it has: ${have || "none"})`);
}
