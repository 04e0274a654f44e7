// The image commands (import, pull, images, rmi, image …) and what `run --image`
// needs from the store before the spec is built.
import type { ImageRun } from "../spec/from-run.ts";
import { reserveContainerRoot, sweepContainerRoots } from "../image/container-root.ts";
import { seedVolume } from "../image/volumes.ts";
import { importImages } from "../image/import.ts";
import { findImage, loadImage, lowerDirs, requireImage } from "../image/images.ts";
import { familiarName, formatReference, parseReference } from "../image/reference.ts";
import { Store } from "../image/store.ts";
import { storageDriver } from "../image/storage-driver.ts";
import { resolveImageUser } from "../image/user.ts";
import { readCredentials } from "../image/credentials.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { isatty } from "../../ffi/libc.ts";
import { pullProgress } from "./pull-progress.ts";
import { fs, path } from "../util/node.ts";
import { stderr, stdout } from "../util/output.ts";
import { escapeControl } from "../util/text.ts";
import type { Digest } from "../image/digest.ts";
import type { Platform } from "../image/manifest.ts";

/** -h/--help on an image command: its usage line, exit 0 (see runImageCommand). */
class HelpRequest extends Error {}

/** Runs an image command; -h/--help prints its usage instead. */
export async function runImageCommand(fn: (argv: readonly string[]) => Promise<number> | number, argv: readonly string[]): Promise<number> {
  try {
    return await fn(argv);
  } catch (e) {
    if (!(e instanceof HelpRequest)) throw e;
    stdout(`usage: ${e.message}\n`);
    return 0;
  }
}

const warn = (msg: string) => stderr(`myuts: warning: ${escapeControl(msg)}\n`);

/** The image's overlay and process settings for `run --image REF`; `release` removes the container's directory. */
export async function imageRun(
  ref: string,
  pull: "missing" | "always" | "never" = "never",
  insecure = false,
  userns = false,
): Promise<{ rootfs: string; image: ImageRun; release(): void }> {
  const copy = storageDriver(process.env.MYUTS_STORAGE_DRIVER, userns, warn) === "vfs";
  const store = Store.open();
  sweepContainerRoots(path().join(store.root, "containers"));
  // An id or a bare digest names what is here already; a reference may be pulled.
  const pullable = !/^(sha256:)?[0-9a-f]{12,64}$/.test(ref);
  if (pullable && (pull === "always" || (pull === "missing" && !findImage(store, ref)))) await pullFor(store, ref, insecure, pull === "always");
  // Held until the container's directory exists: from then on, prune leaves the layers alone.
  const { img, lowerdir, box } = await store.inUse(async () => {
    const img = requireImage(store, ref);
    const lowerdir = await lowerDirs(store, img, warn);
    return { img, lowerdir, box: reserveContainerRoot(path().join(store.root, "containers")) };
  });
  const c = img.config.config;
  try {
    const image: ImageRun = {
      overlay: { lowerdir, upperdir: box.upperdir, workdir: box.workdir, ...(copy ? { copy } : {}) },
      ...(c.Entrypoint ? { entrypoint: c.Entrypoint } : {}),
      ...(c.Cmd ? { cmd: c.Cmd } : {}),
      ...(c.Env ? { env: c.Env.filter((e) => e.indexOf("=") > 0) } : {}),
      // docker reads a relative WorkingDir from /.
      ...(c.WorkingDir ? { workdir: path().resolve("/", c.WorkingDir) } : {}),
      ...(c.User ? { user: resolveImageUser(lowerdir, c.User) } : {}),
      ...(c.Volumes?.length ? { volumes: anonymousVolumes(lowerdir, path().dirname(box.path), c.Volumes) } : {}),
      ...(c.ExposedPorts?.length ? { exposedPorts: c.ExposedPorts } : {}),
    };
    return { rootfs: box.path, image, release: box.release };
  } catch (e) {
    box.release();
    throw e;
  }
}

/** The image's VOLUME paths, each a directory in the container's own, seeded from the layers. */
function anonymousVolumes(layers: readonly string[], containerDir: string, paths: readonly string[]): Array<{ destination: string; source: string }> {
  return paths.map((destination, i) => {
    const source = path().join(containerDir, "volumes", String(i));
    try {
      seedVolume(layers, path().posix.normalize(destination), source);
    } catch (e) {
      throw fsError(`image volume ${destination}`, e);
    }
    return { destination: path().posix.normalize(destination), source };
  });
}

function operands(argv: readonly string[], usage: string, min: number, max: number): string[] {
  if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequest(usage);
  const ops = argv.filter((a) => a !== "--");
  const bad = ops.find((a) => a.startsWith("-"));
  if (bad) throw new UserError(`unknown option ${bad} (usage: ${usage})`);
  if (ops.length < min || ops.length > max) throw new UserError(`usage: ${usage}`);
  return ops;
}

/** `myuts import FILE|DIR [NAME]` */
export async function importCli(argv: readonly string[]): Promise<number> {
  const [source, name] = operands(argv, "myuts import FILE|DIR [NAME]", 1, 2) as [string, string | undefined];
  const found = await importImages(Store.open(), source, name, warn);
  for (const f of found) stdout(`${f.names.length ? f.names.map(familiarName).join(" ") : "(no name)"} ${f.digest}\n`);
  return 0;
}

/** `myuts images [--format json]` */
export function imagesCli(argv: readonly string[]): number {
  operands(
    argv.filter((a, i) => a !== "--format" && argv[i - 1] !== "--format" && !a.startsWith("--format=")),
    "myuts images [--format json]",
    0,
    0,
  );
  const json = argv.includes("--format=json") || (argv.includes("--format") && argv[argv.indexOf("--format") + 1] === "json");
  const store = Store.open();
  const rows: { name: string; digest: Digest; size: number; created?: string }[] = [];
  for (const [name, d] of store.readIndex()) {
    let size = 0;
    let created: string | undefined;
    try {
      const img = loadImage(store, d);
      size = img.manifest.layers.reduce((n, l) => n + l.size, 0);
      created = img.config.created;
    } catch (e) {
      warn(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    rows.push({ name, digest: d, size, ...(created ? { created } : {}) });
  }
  if (json) {
    stdout(`${JSON.stringify(rows.map((r) => ({ ...r, name: familiarName(r.name) })))}\n`);
    return 0;
  }
  const lines = [["NAME", "ID", "SIZE"], ...rows.map((r) => [familiarName(r.name), r.digest.slice(7, 19), `${(r.size / 1e6).toFixed(1)} MB`])];
  const w = [0, 1].map((i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines) stdout(`${l[0]!.padEnd(w[0]!)}  ${l[1]!.padEnd(w[1]!)}  ${l[2]}\n`);
  return 0;
}

/** `myuts rmi REF...`: removes the names (a digest or id removes every name of that image); `image prune` frees the content. */
export async function rmiCli(argv: readonly string[]): Promise<number> {
  const refs = operands(argv, "myuts rmi REF...", 1, 1000);
  const store = Store.open();
  for (const ref of refs) {
    const d = findImage(store, ref);
    if (!d) throw new UserError(`image ${ref}: not in the store`);
    // A name removes that name; a digest or id every name of the image.
    let name: string | undefined;
    try {
      name = formatReference(parseReference(ref));
    } catch {
      // an id prefix
    }
    await store.updateIndex((index) => {
      if (name && index.get(name) === d) index.delete(name);
      else for (const [n, x] of [...index]) if (x === d) index.delete(n);
    });
    stdout(`untagged ${ref}\n`);
  }
  return 0;
}

/**
 * `myuts image prune`: removes every blob and unpacked layer no named image needs,
 * and what dead commands left behind. Layers in use by a running container stay:
 * a container root in containers/ pins its image by being alive (see sweep).
 */
export async function pruneCli(argv: readonly string[]): Promise<number> {
  operands(argv, "myuts image prune", 0, 0);
  const store = Store.open();
  const swept = store.sweepTemp() + sweepContainerRoots(path().join(store.root, "containers"));
  let removed = 0;
  await store.collecting(() => {
    const keep = new Set<string>();
    for (const d of new Set(store.readIndex().values())) {
      keep.add(d);
      try {
        const img = loadImage(store, d);
        keep.add(img.manifest.config.digest);
        for (const l of img.manifest.layers) keep.add(l.digest);
      } catch (e) {
        warn(`image ${d}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    // A running container's layers are in its overlay's lowerdir: those stay as long as any container runs.
    const running = fs().readdirSync(path().join(store.root, "containers")).length > 0;
    const gone = (d: Digest, p: string) => {
      if (keep.has(d)) return;
      fs().rmSync(p, { recursive: true, force: true });
      removed++;
    };
    for (const d of store.blobs()) gone(d, store.blobPath(d));
    if (!running) for (const d of store.layers()) gone(d, store.layerPath(d));
    // Every user of the blob and layer locks holds the gc lock shared: none can be waiting now.
    store.removeContentLocks();
  });
  stdout(`removed ${removed} unused blobs and layers${swept ? `, ${swept} leftovers` : ""}\n`);
  return 0;
}

/** `myuts image import|ls|rm|prune`, podman's long forms. */
export async function imageCli(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "import":
      return importCli(rest);
    case "ls":
    case "list":
      return imagesCli(rest);
    case "rm":
      return rmiCli(rest);
    case "prune":
      return pruneCli(rest);
    case "pull":
      return pullCli(rest);
  }
  throw new UserError(`usage: myuts image import|pull|ls|rm|prune (got ${sub === undefined ? "nothing" : JSON.stringify(sub)})`);
}

/** Pulls `ref` for a run; a failure says the image isn't here either. */
async function pullFor(store: Store, ref: string, insecure: boolean, always: boolean): Promise<void> {
  const r = parseReference(ref);
  const { pullImage } = await import("../image/pull.ts");
  try {
    await pullImage(store, r, { insecure, credentials: readCredentials(r.domain), progress: pullProgress(isatty(2), false), warn });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    throw new UserError(
      always ? `image ${ref}: pull failed: ${e.message}` : `image ${ref}: not in the store (${store.root}), and pulling it failed: ${e.message}`,
    );
  }
}

/** `myuts pull [--insecure] [--platform OS/ARCH[/VARIANT]] [-q] REF` */
export async function pullCli(argv: readonly string[]): Promise<number> {
  const usage = "myuts pull [--insecure] [--platform OS/ARCH[/VARIANT]] [-q|--quiet] REF";
  let insecure = false;
  let quiet = false;
  let platform: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--insecure") insecure = true;
    else if (a === "-q" || a === "--quiet") quiet = true;
    else if (a === "--platform") platform = argv[++i];
    else if (a.startsWith("--platform=")) platform = a.slice(11);
    else rest.push(a);
  }
  const [ref] = operands(rest, usage, 1, 1) as [string];
  let want: Platform | undefined;
  if (platform !== undefined) {
    const [os, architecture, variant] = platform.split("/");
    if (!os || !architecture) throw new UserError(`pull: --platform ${JSON.stringify(platform)}: expected OS/ARCH[/VARIANT]`);
    want = { os, architecture, ...(variant ? { variant } : {}) };
  }
  const r = parseReference(ref);
  const { pullImage } = await import("../image/pull.ts");
  const done = await pullImage(Store.open(), r, {
    insecure,
    credentials: readCredentials(r.domain),
    ...(want ? { platform: want } : {}),
    progress: pullProgress(isatty(2), quiet),
    warn,
  });
  stdout(`${familiarName(done.name)} ${done.digest}\n`);
  return 0;
}
