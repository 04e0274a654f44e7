// A root filesystem must be a directory. Given a file instead (most often an image
// tarball), say what it is and how to turn it into one.
import { fs } from "../util/node.ts";

const MAGIC: [string, (b: Buffer) => boolean][] = [
  ["gzip-compressed", (b) => b[0] === 0x1f && b[1] === 0x8b],
  ["xz-compressed", (b) => b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))],
  ["zstd-compressed", (b) => b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))],
  ["bzip2-compressed", (b) => b.subarray(0, 3).toString("latin1") === "BZh"],
  ["tar", (b) => b.subarray(257, 262).toString("latin1") === "ustar"],
];

/** What a regular file given as a root filesystem is, as a message; undefined when it isn't a regular file. */
export function notADirectoryHint(path: string): string | undefined {
  let head: Buffer;
  try {
    if (!fs().statSync(path).isFile()) return undefined;
    const fd = fs().openSync(path, fs().constants.O_RDONLY | fs().constants.O_NONBLOCK);
    try {
      head = Buffer.alloc(512);
      head = head.subarray(0, fs().readSync(fd, head, 0, 512, 0));
    } finally {
      fs().closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const unpack = `mkdir R && tar -xf ${path} -C R, then --rootfs R`;
  const kind = MAGIC.find(([, test]) => test(head))?.[0];
  if (kind) return `a ${kind === "tar" ? "tar" : `${kind} (tar?)`} archive, not a directory: unpack it first (${unpack})`;
  return `a file, not a directory (an image archive? unpack it first: ${unpack})`;
}
