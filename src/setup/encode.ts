// The setup program on the wire, as ffi/native/init.c reads it (keep the two in
// step): a header, fixed-size steps, relocations, then the data block.
import type { Arg, Program, Step } from "./program.ts";
import { SYSCALLS, type Arch } from "./syscalls.ts";

export const MAGIC = 0x4d595453;
export const VERSION = 1;
export const STEP_SIZE = 96;
const HEADER_SIZE = 24;
const MAX_CASES = 4;
const FLAG_TRACE = 1;

const OP = { syscall: 1, goto: 2, fail: 3, sync: 4, fork: 5, load: 6, pid1: 7, monitor: 8, hook: 9 } as const;
const KIND = { imm: 0, data: 1, slot: 2, fdpath: 3 } as const;
const ON = { allow: 0, goto: 1, record: 2 } as const;

function target(index: number, step: number): number {
  if (index < 0) throw new Error(`setup program: step ${step} jumps to a label that was never placed`);
  return index;
}

/**
 * Typed-array views of the output. Both targets are little-endian, like the host that
 * compiles for them; indexing arrays is several times cheaper than DataView calls in
 * the cold code a start runs once.
 */
interface Views {
  u8: Uint8Array;
  u16: Uint16Array;
  i16: Int16Array;
  u32: Uint32Array;
}

/** A number as a 64-bit two's complement word (without BigInt, slow on the start path). */
function setU64(v: Views, at: number, n: number): void {
  v.u32[at >> 2] = n >>> 0;
  v.u32[(at >> 2) + 1] = n < 0 ? 0xffffffff : Math.floor(n / 0x100000000) >>> 0;
}

function encodeArgs(v: Views, at: number, args: readonly Arg[], i: number): void {
  if (args.length > 6) throw new Error(`setup program: step ${i} has more than 6 arguments`);
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    v.u8[at + 6 + k] = KIND[a.kind];
    setU64(v, at + 16 + k * 8, a.kind === "imm" ? a.value : a.kind === "data" ? a.offset : a.slot);
  }
}

function encodeStep(v: Views, at: number, s: Step, i: number, arch: Arch): void {
  v.u16[at >> 1] = OP[s.op];
  v.i16[(at >> 1) + 2] = -1;
  if (s.op === "goto") setU64(v, at + 16, target(s.target.index, i));
  if (s.op === "fail") setU64(v, at + 16, s.errno);
  if (s.op === "fork") {
    setU64(v, at + 16, s.flags);
    if (s.parent) setU64(v, at + 24, target(s.parent.index, i) + 1);
    if (s.cgroup !== undefined) setU64(v, at + 32, s.cgroup + 1);
  }
  if (s.op === "monitor" || s.op === "hook") {
    encodeArgs(v, at, s.args, i);
    return;
  }
  if (s.op === "sync") setU64(v, at + 16, s.report ?? -1);
  if (s.op !== "syscall") return;
  v.u16[(at >> 1) + 1] = SYSCALLS[s.call][arch];
  v.i16[(at >> 1) + 2] = s.out ?? -1;
  encodeArgs(v, at, s.args, i);
  if (s.on.length > MAX_CASES) throw new Error(`setup program: step ${i} has more than ${MAX_CASES} errno cases`);
  for (let k = 0; k < s.on.length; k++) {
    const c = s.on[k]!;
    const o = at + 64 + k * 8;
    v.i16[o >> 1] = c.errno === "any" ? -1 : c.errno;
    const t = c.react;
    v.u16[(o >> 1) + 1] = "allow" in t ? ON.allow : "goto" in t ? ON.goto : ON.record;
    const l = "goto" in t ? t.goto : "record" in t ? t.record : undefined;
    v.u32[(o >> 2) + 1] = l ? target(l.index, i) : 0;
  }
}

export function encodeProgram(p: Program, opts: { arch: Arch; trace: boolean }): Uint8Array {
  const relocAt = HEADER_SIZE + p.steps.length * STEP_SIZE;
  const dataAt = relocAt + p.relocs.length * 4;
  // Rounded up: the 32-bit view needs a whole number of words.
  const buf = new ArrayBuffer(Math.ceil((dataAt + p.data.length) / 8) * 8);
  const v: Views = { u8: new Uint8Array(buf), u16: new Uint16Array(buf), i16: new Int16Array(buf), u32: new Uint32Array(buf) };
  v.u32.set([MAGIC, VERSION, p.steps.length, p.relocs.length, p.data.length, opts.trace ? FLAG_TRACE : 0]);
  for (let i = 0; i < p.steps.length; i++) encodeStep(v, HEADER_SIZE + i * STEP_SIZE, p.steps[i]!, i, opts.arch);
  v.u32.set(p.relocs, relocAt >> 2);
  v.u8.set(p.data, dataAt);
  return v.u8.subarray(0, dataAt + p.data.length);
}
