// Reads a file a caller named or a directory holds, as untrusted input: only a
// regular file, only up to a cap. Opened non-blocking, so a FIFO can't hang the
// open, and checked with fstat on the open descriptor before anything is read, so
// /dev/zero or a pipe is refused instead of read until memory runs out.
import { close, readAll } from "../../ffi/libc.ts";
import { type FileType, fstat, openFile } from "../../ffi/files.ts";

export const MiB = 1024 * 1024;

/** Why a file was refused: the line says what it is instead. */
export class RefusedFile extends Error {}

const KIND: Partial<Record<FileType, string>> = {
  directory: "a directory",
  fifo: "a FIFO",
  "character device": "a character device",
  "block device": "a block device",
  socket: "a socket",
};

/**
 * The file's bytes. Throws a SyscallError (ENOENT, ELOOP with `noFollow` on a symlink…;
 * its `code` is the errno's name) or a RefusedFile naming what the file is or that it
 * exceeds the cap.
 */
export function readRegularFile(path: string, maxBytes: number, opts: { noFollow?: boolean } = {}): Buffer {
  const fd = openFile(path, { nonBlock: true, noFollow: opts.noFollow });
  try {
    const st = fstat(fd, path);
    if (st.type !== "file") throw new RefusedFile(`${KIND[st.type] ?? "not a regular file"}, not a regular file`);
    if (st.size > maxBytes) throw new RefusedFile(`larger than ${describeSize(maxBytes)} (${st.size} bytes)`);
    // The file may grow after fstat: read one byte past the cap at most.
    const data = readAll(fd, maxBytes + 1);
    if (data.length > maxBytes) throw new RefusedFile(`larger than ${describeSize(maxBytes)}`);
    return data;
  } finally {
    close(fd);
  }
}

function describeSize(n: number): string {
  return n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`;
}
