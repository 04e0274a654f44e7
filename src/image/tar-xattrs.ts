// Extended attributes carried by a layer's pax headers. Go's archive/tar (docker,
// buildah) and GNU tar write each as a record "SCHILY.xattr.NAME=VALUE" with the
// value's raw bytes; bsdtar also writes "LIBARCHIVE.xattr.NAME=BASE64". tar-stream
// decodes every pax value as UTF-8, which destroys binary values such as
// security.capability, so its decoder is replaced by one that keeps xattr values as
// bytes (a latin1 string, one char per byte) and everything else as tar-stream does.
// tar-stream's package exports don't list headers.js, hence the path: its extract.js
// calls the decoder through this same module object.
// @ts-expect-error: the dependency ships no types for this file
import tarHeaders from "../../node_modules/tar-stream/headers.js";

const SCHILY = "SCHILY.xattr.";
const LIBARCHIVE = "LIBARCHIVE.xattr.";
const utf8 = new TextDecoder();
const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");

/** pax records ("LEN KEY=VALUE\n"), the xattr values kept byte for byte. */
export function decodePax(buf: Uint8Array): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  let at = 0;
  while (at < buf.length) {
    let sp = at;
    while (sp < buf.length && buf[sp] !== 0x20) sp++;
    const len = Number.parseInt(latin1(buf.subarray(at, sp)), 10);
    if (!(len > sp - at + 1) || at + len > buf.length) break;
    const rec = buf.subarray(sp + 1, at + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) break;
    const key = utf8.decode(rec.subarray(0, eq));
    const value = rec.subarray(eq + 1);
    out[key] = key.startsWith(SCHILY) ? latin1(value) : utf8.decode(value);
    at += len;
  }
  return out;
}

const headers = tarHeaders as unknown as { decodePax: (buf: Uint8Array) => Record<string, string> };
headers.decodePax = decodePax;

/** The xattrs of an entry's pax records, by name; SCHILY's records win over LIBARCHIVE's. */
export function xattrsOf(pax: Record<string, string> | undefined): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (!pax) return out;
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(LIBARCHIVE)) {
      let name: string;
      try {
        name = decodeURIComponent(key.slice(LIBARCHIVE.length));
      } catch {
        continue;
      }
      if (name && !out.has(name)) out.set(name, new Uint8Array(Buffer.from(value, "base64")));
    }
  }
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(SCHILY) && key.length > SCHILY.length) out.set(key.slice(SCHILY.length), new Uint8Array(Buffer.from(value, "latin1")));
  }
  return out;
}

/**
 * Whether a layer may set the xattr `name`. Only what a file carries for itself:
 * user.* (not overlayfs's own user.overlay.*), file capabilities and POSIX ACLs.
 * Never trusted.* (overlayfs keeps its whiteouts and redirects there), nor security
 * labels an image must not choose.
 */
export function layerMaySet(name: string): boolean {
  if (name.startsWith("user.")) return !name.startsWith("user.overlay.");
  return name === "security.capability" || name === "system.posix_acl_access" || name === "system.posix_acl_default";
}
