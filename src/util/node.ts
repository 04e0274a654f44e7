// Node's builtin modules, loaded on first use. In the compiled binary a static
// import of one is hoisted to the top of the bundle and costs every myuts process
// about a millisecond before its first instruction, on the container start path twice.
export const fs = (): typeof import("node:fs") => require("node:fs");
export const path = (): typeof import("node:path") => require("node:path");
export const os = (): typeof import("node:os") => require("node:os");
export const stream = (): typeof import("node:stream") => require("node:stream");
export const zlib = (): typeof import("node:zlib") => require("node:zlib");
