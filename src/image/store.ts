// The content store: blobs by digest, unpacked layers by the digest of their blob,
// and an index of names. Layout under the root:
//   blobs/sha256/<hex>    verified content, read-only; re-verified on every read
//   layers/sha256/<hex>   a layer unpacked for overlayfs (present means complete)
//   tmp/                  work in progress, named for the process doing it
//   locks/                one flock file per blob, layer and the index
//   containers/<id>/      a running container's upper, work and merged dirs
//   images.json           name → manifest digest
// Nothing appears under blobs/ or layers/ except by rename(2) of a finished,
// verified temporary: a crash leaves only tmp/ entries, which a later command whose
// owner check finds dead removes. Concurrent writers of one digest serialise on its
// lock and the later ones find it done.
import { flock, LOCK_EX, LOCK_SH, LOCK_UN } from "../../ffi/libc.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, os, path } from "../util/node.ts";
import { ownerTag, ownerIsDead } from "../util/process-start.ts";
import { type Digest, DigestWriter, hexOf, isDigest, sha256, verifyDigest } from "./digest.ts";
import { MAX_JSON } from "./manifest.ts";
import { removeTree } from "./remove-tree.ts";

/** Root's store is /var/lib/myuts; anyone else's is in their XDG data dir, as podman's. MYUTS_STORE overrides both. */
export function defaultStoreRoot(env: Record<string, string | undefined> = process.env, uid = process.geteuid?.() ?? 0): string {
  if (env.MYUTS_STORE) return path().resolve(env.MYUTS_STORE);
  if (uid === 0) return "/var/lib/myuts";
  const data = env.XDG_DATA_HOME?.startsWith("/") ? env.XDG_DATA_HOME : path().join(env.HOME || os().homedir(), ".local/share");
  return path().join(data, "myuts");
}

const code = (e: unknown) => (e as { code?: string } | null)?.code;

export class Store {
  private readonly chains = new Map<string, Promise<unknown>>();

  private constructor(readonly root: string) {}

  /** Opens (creating when missing) the store at `root`; refuses one that isn't this user's own directory. */
  static open(root = defaultStoreRoot()): Store {
    const s = new Store(root);
    try {
      fs().mkdirSync(root, { recursive: true, mode: 0o700 });
      const st = fs().lstatSync(root);
      const uid = process.geteuid?.() ?? 0;
      if (!st.isDirectory()) throw new UserError(`image store ${root}: not a directory`);
      if (st.uid !== uid) throw new UserError(`image store ${root}: owned by uid ${st.uid}, not by you (uid ${uid}); refusing to use it`);
      for (const d of ["blobs/sha256", "layers/sha256", "tmp", "locks", "containers"]) fs().mkdirSync(path().join(root, d), { recursive: true, mode: 0o700 });
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw fsError(`image store ${root}`, e, "mkdir");
    }
    return s;
  }

  blobPath(d: Digest): string {
    return path().join(this.root, "blobs/sha256", hexOf(d));
  }

  layerPath(d: Digest): string {
    return path().join(this.root, "layers/sha256", hexOf(d));
  }

  hasBlob(d: Digest): boolean {
    return fs().existsSync(this.blobPath(d));
  }

  hasLayer(d: Digest): boolean {
    try {
      return fs().lstatSync(this.layerPath(d)).isDirectory();
    } catch {
      return false;
    }
  }

  /** A fresh path under tmp/ that names this process, so a sweep can tell when its owner died. */
  tempPath(kind: string): string {
    return path().join(this.root, "tmp", `${ownerTag()}.${kind}.${crypto.randomUUID().slice(0, 8)}`);
  }

  /**
   * Runs `fn` holding the lock `name`: other processes wait on flock, other calls in
   * this one wait on a promise chain (flock on a second descriptor of this process
   * would block the only thread forever).
   */
  async withLock<T>(name: string, fn: () => Promise<T> | T, shared = false): Promise<T> {
    const prev = this.chains.get(name) ?? Promise.resolve();
    const run = prev.then(
      () => this.locked(name, fn, shared),
      () => this.locked(name, fn, shared),
    );
    this.chains.set(name, run);
    try {
      return await run;
    } finally {
      if (this.chains.get(name) === run) this.chains.delete(name);
    }
  }

  private async locked<T>(name: string, fn: () => Promise<T> | T, shared: boolean): Promise<T> {
    const file = path().join(this.root, "locks", name);
    let fd: number;
    try {
      fd = fs().openSync(file, fs().constants.O_RDWR | fs().constants.O_CREAT | fs().constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      throw fsError(`image store lock ${file}`, e, "open");
    }
    try {
      flock(fd, shared ? LOCK_SH : LOCK_EX);
      return await fn();
    } finally {
      try {
        flock(fd, LOCK_UN);
      } finally {
        fs().closeSync(fd);
      }
    }
  }

  /**
   * Runs `fn` while no `image prune` can run: every command that adds content (import, pull)
   * or starts using it (run --image, until its container directory exists) holds this lock
   * shared, and prune holds it exclusively. So prune never removes what is being added or
   * about to be mounted.
   */
  inUse<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.withLock("gc", fn, true);
  }

  /** Runs `fn` while nothing adds or starts using content (see inUse). */
  collecting<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.withLock("gc", fn);
  }

  /** A blob's bytes (small ones: manifests, configs), verified against its digest on every read. */
  readBlob(d: Digest, what: string, max = MAX_JSON): Uint8Array {
    const p = this.blobPath(d);
    let bytes: Buffer;
    try {
      const fd = fs().openSync(p, fs().constants.O_RDONLY | fs().constants.O_NOFOLLOW);
      try {
        const st = fs().fstatSync(fd);
        if (!st.isFile()) throw new UserError(`${what}: blob ${d} is not a regular file`);
        if (st.size > max) throw new UserError(`${what}: blob ${d} is ${st.size} bytes, more than ${max}`);
        bytes = fs().readFileSync(fd);
      } finally {
        fs().closeSync(fd);
      }
    } catch (e) {
      if (e instanceof UserError) throw e;
      if (code(e) === "ENOENT") throw new UserError(`${what}: blob ${d} is missing from the store (import or pull the image again)`);
      throw fsError(`${what}: blob ${d}`, e, "open");
    }
    verifyDigest(d, sha256(bytes), `${what}: blob in the store`);
    return bytes;
  }

  /** Stores `bytes`; their digest, which must be `expected` when given. */
  async putBytes(bytes: Uint8Array, expected?: Digest): Promise<Digest> {
    const d = sha256(bytes);
    if (expected) verifyDigest(expected, d, "blob");
    await this.putStream(d, async function* () {
      yield bytes;
    });
    return d;
  }

  /**
   * Stores the blob `d` from `chunks` unless it is there already. The bytes go to a
   * temporary file, are hashed on the way, fsynced, and renamed into place only when
   * the digest matches; a second writer of the same digest waits and finds it done.
   * `alongside`, when given, reads the same bytes as they are written (a layer unpacks
   * while it downloads); whatever it makes of them must wait for this call to succeed.
   * Resolves to whether this call wrote the blob (false: it was there).
   */
  async putStream(
    d: Digest,
    chunks: () => AsyncIterable<Uint8Array>,
    what = `blob ${d}`,
    alongside?: (chunks: AsyncIterable<Uint8Array>) => Promise<unknown>,
  ): Promise<boolean> {
    if (this.hasBlob(d)) return false;
    return this.withLock(`blob-${hexOf(d)}`, async () => {
      if (this.hasBlob(d)) return false;
      const tmp = this.tempPath("blob");
      const c = fs().constants;
      let fd: number | undefined;
      try {
        const out = fs().openSync(tmp, c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, 0o400);
        fd = out;
        const h = new DigestWriter();
        let sourceFailed = false;
        // Written off the main thread (the pool's), while this one hashes and unpacks.
        const sink = fs().createWriteStream("", { fd: out, autoClose: false });
        let sinkError: unknown;
        sink.on("error", (e) => {
          sinkError = e;
        });
        async function* written(): AsyncIterable<Uint8Array> {
          try {
            for await (const chunk of chunks()) {
              if (sinkError) throw sinkError;
              h.update(chunk);
              if (!sink.write(chunk)) await settled(sink, "drain");
              yield chunk;
            }
          } catch (e) {
            sourceFailed = true;
            throw e;
          }
        }
        const it = written()[Symbol.asyncIterator]();
        let failure: unknown;
        if (alongside) {
          // A view without return(): a reader that gives up doesn't end the download.
          const view: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => it.next() }) };
          try {
            await alongside(view);
          } catch (e) {
            failure = e;
          }
        }
        // The rest (all of it without a reader): a reader's failure on bad bytes is reported as
        // what it is, a digest mismatch, once every byte is in.
        if (!sourceFailed) for (let r = await it.next(); !r.done; r = await it.next());
        if (!sinkError) {
          sink.end();
          await settled(sink, "finish");
        }
        if (sinkError) throw sinkError;
        // On the pool: the other layers go on downloading and unpacking meanwhile.
        await new Promise<void>((resolve, reject) => fs().fsync(out, (e) => (e ? reject(e) : resolve())));
        fs().closeSync(fd);
        fd = undefined;
        if (failure !== undefined && sourceFailed) throw failure;
        verifyDigest(d, h.digest(), what);
        if (failure !== undefined) throw failure;
        fs().renameSync(tmp, this.blobPath(d));
        return true;
      } catch (e) {
        if (fd !== undefined) fs().closeSync(fd);
        fs().rmSync(tmp, { force: true });
        if (e instanceof UserError) throw e;
        throw fsError(`${what}: store`, e, "write");
      }
    });
  }

  /** Stores the file at `file` as blob `d` (copied and hashed on the way). */
  async putFile(d: Digest, file: string, what: string): Promise<void> {
    await this.putStream(d, () => readChunks(file), what);
  }

  private indexPath(): string {
    return path().join(this.root, "images.json");
  }

  /** The index: full reference → manifest digest. Read as hostile input: anything malformed is dropped. */
  readIndex(): Map<string, Digest> {
    const out = new Map<string, Digest>();
    let text: string;
    try {
      const fd = fs().openSync(this.indexPath(), fs().constants.O_RDONLY | fs().constants.O_NOFOLLOW);
      try {
        if (fs().fstatSync(fd).size > MAX_JSON) throw new UserError(`image store ${this.indexPath()}: too big`);
        text = fs().readFileSync(fd, "utf8");
      } finally {
        fs().closeSync(fd);
      }
    } catch (e) {
      if (code(e) === "ENOENT") return out;
      if (e instanceof UserError) throw e;
      throw fsError(`image store ${this.indexPath()}`, e, "open");
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new UserError(`image store ${this.indexPath()}: not valid JSON; remove it and import the images again`);
    }
    const images = (doc as { images?: unknown } | null)?.images;
    if (typeof images !== "object" || images === null || Array.isArray(images)) return out;
    for (const [name, d] of Object.entries(images)) if (name.length < 4096 && isDigest(d)) out.set(name, d);
    return out;
  }

  /** Changes the index under its lock and writes it whole (temporary file, fsync, rename). */
  async updateIndex(change: (index: Map<string, Digest>) => void): Promise<void> {
    await this.withLock("index", () => {
      const index = this.readIndex();
      change(index);
      const tmp = this.tempPath("index");
      try {
        const fd = fs().openSync(tmp, "wx", 0o600);
        try {
          fs().writeSync(fd, `${JSON.stringify({ images: Object.fromEntries([...index].sort()) }, null, 2)}\n`);
          fs().fsyncSync(fd);
        } finally {
          fs().closeSync(fd);
        }
        fs().renameSync(tmp, this.indexPath());
      } catch (e) {
        fs().rmSync(tmp, { force: true });
        throw fsError(`image store ${this.indexPath()}`, e, "write");
      }
    });
  }

  /** Removes what crashed or killed commands left in tmp/ (their owner is gone); returns how many. */
  sweepTemp(): number {
    return sweepDead(path().join(this.root, "tmp"));
  }

  /** The blob and layer lock files; only while collecting (see inUse), when nobody holds or waits for one. */
  removeContentLocks(): void {
    const dir = path().join(this.root, "locks");
    for (const n of fs().readdirSync(dir)) if (/^(blob|layer)-[0-9a-f]{64}$/.test(n)) fs().rmSync(path().join(dir, n), { force: true });
  }

  /** Every blob digest in the store. */
  blobs(): Digest[] {
    return listDigests(path().join(this.root, "blobs/sha256"));
  }

  layers(): Digest[] {
    return listDigests(path().join(this.root, "layers/sha256"));
  }
}

function listDigests(dir: string): Digest[] {
  try {
    return fs()
      .readdirSync(dir)
      .map((n) => `sha256:${n}`)
      .filter(isDigest);
  } catch {
    return [];
  }
}

/** Removes the entries of `dir` whose names start with an owner tag of a process that is gone. */
export function sweepDead(dir: string): number {
  let n = 0;
  let names: string[];
  try {
    names = fs().readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!ownerIsDead(name.split(".")[0] ?? "")) continue;
    try {
      removeTree(path().join(dir, name));
      n++;
    } catch {
      // busy or gone: the next sweep tries again
    }
  }
  return n;
}

/**
 * Waits for a write stream's `event`, or its error. A failed write (a full disk) ends
 * in "error" and never in "drain": waiting for that alone would leave nothing for the
 * event loop to do, and the process would end as if all went well.
 */
function settled(stream: import("node:fs").WriteStream, event: "drain" | "finish"): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      stream.off("error", failed);
      resolve();
    };
    const failed = (e: unknown) => {
      stream.off(event, done);
      reject(e);
    };
    stream.once(event, done);
    stream.once("error", failed);
  });
}

/** A file's contents in chunks, without reading it whole. */
export async function* readChunks(file: string): AsyncIterable<Uint8Array> {
  const c = fs().constants;
  const fd = fs().openSync(file, c.O_RDONLY | c.O_NOFOLLOW);
  try {
    if (!fs().fstatSync(fd).isFile()) throw new UserError(`${file}: not a regular file`);
    for (;;) {
      // A fresh buffer per chunk: a stream consumer may still hold the previous one.
      const buf = Buffer.allocUnsafe(1 << 20);
      const n = fs().readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    fs().closeSync(fd);
  }
}
