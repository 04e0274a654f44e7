// The runtime's own output, written synchronously: nothing is left in a stream's
// buffer when the process ends with _exit (src/main.ts), which skips Bun's teardown.
import { writeAll } from "../../ffi/libc.ts";

export const stdout = (text: string): void => writeAll(1, Buffer.from(text));
export const stderr = (text: string): void => writeAll(2, Buffer.from(text));
