// Content digests (OCI image-spec descriptor.md): "sha256:" and 64 lowercase hex
// digits. Every digest read from a manifest, an index or an archive is checked
// against this form before it becomes part of a path in the store.
import { UserError } from "../util/errors.ts";

export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[0-9a-f]{64}$/;

export function isDigest(v: unknown): v is Digest {
  return typeof v === "string" && SHA256.test(v);
}

/** `v` as a digest, or a UserError naming where it came from. */
export function parseDigest(v: unknown, where: string): Digest {
  if (isDigest(v)) return v;
  const shown = typeof v === "string" ? JSON.stringify(v.slice(0, 80)) : typeof v;
  throw new UserError(`${where}: ${shown} is not a sha256 digest (only sha256 is supported)`);
}

/** The 64 hex digits: the file name under the store's sha256 folders. */
export function hexOf(d: Digest): string {
  return d.slice(7);
}

export function sha256(bytes: Uint8Array): Digest {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/** A running hash over a stream of chunks. */
export class DigestWriter {
  private readonly h = new Bun.CryptoHasher("sha256");
  size = 0;
  update(chunk: Uint8Array): void {
    this.h.update(chunk);
    this.size += chunk.length;
  }
  digest(): Digest {
    return `sha256:${this.h.digest("hex")}`;
  }
}

/** Throws unless `actual` is `expected`: a tampered or truncated blob is never used. */
export function verifyDigest(expected: Digest, actual: Digest, what: string): void {
  if (expected !== actual) throw new UserError(`${what}: digest mismatch: expected ${expected}, got ${actual}; refusing to use it`);
}
