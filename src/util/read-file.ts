// Reads a file a caller named or a directory holds, as untrusted input: only a
// regular file, only up to a cap. Opened non-blocking, so a FIFO can't hang the
// open, and checked with fstat on the open descriptor before anything is read, so
// /dev/zero or a pipe is refused instead of read until memory runs out.
import { fs } from "./node.ts";

export const MiB = 1024 * 1024;

/** Why a file was refused: the line says what it is instead. */
export class RefusedFile extends Error {}

function kind(st: import("node:fs").Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * The file's bytes. Throws a node:fs error (ENOENT, ELOOP with `noFollow` on a
 * symlink…) or a RefusedFile naming what the file is or that it exceeds the cap.
 */
export function readRegularFile(path: string, maxBytes: number, opts: { noFollow?: boolean } = {}): Buffer {
  const c = fs().constants;
  const fd = fs().openSync(path, c.O_RDONLY | c.O_NONBLOCK | (opts.noFollow ? c.O_NOFOLLOW : 0));
  try {
    const st = fs().fstatSync(fd);
    if (!st.isFile()) throw new RefusedFile(`${kind(st)}, not a regular file`);
    if (st.size > maxBytes) throw new RefusedFile(`larger than ${describeSize(maxBytes)} (${st.size} bytes)`);
    // The file may grow after fstat: read on, never past one byte beyond the cap.
    let buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (;;) {
      const n = fs().readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) return buf.subarray(0, got);
      got += n;
      if (got > maxBytes) throw new RefusedFile(`larger than ${describeSize(maxBytes)}`);
      if (got === buf.length) {
        const bigger = Buffer.alloc(Math.min(buf.length * 2, maxBytes + 1));
        buf.copy(bigger, 0, 0, got);
        buf = bigger;
      }
    }
  } finally {
    fs().closeSync(fd);
  }
}

function describeSize(n: number): string {
  return n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`;
}
