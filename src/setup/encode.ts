// The setup program on the wire, as ffi/native/init.c reads it (keep the two in
// step): a header, fixed-size steps, relocations, then the data block.
import type { Program, Step } from "./program.ts";
import { SYSCALLS, type Arch } from "./syscalls.ts";

export const MAGIC = 0x4d595453;
export const VERSION = 1;
export const STEP_SIZE = 96;
const HEADER_SIZE = 24;
const MAX_CASES = 4;
const FLAG_TRACE = 1;

const OP = { syscall: 1, goto: 2, fail: 3, sync: 4, fork: 5 } as const;
const KIND = { imm: 0, data: 1, slot: 2, fdpath: 3 } as const;
const ON = { allow: 0, goto: 1, record: 2 } as const;

function target(index: number, step: number): number {
  if (index < 0) throw new Error(`setup program: step ${step} jumps to a label that was never placed`);
  return index;
}

/** A number as a 64-bit two's complement word, without BigInt (slow on the start path). */
function setU64(v: DataView, at: number, n: number): void {
  v.setUint32(at, n >>> 0, true);
  v.setUint32(at + 4, n < 0 ? 0xffffffff : Math.floor(n / 0x100000000) >>> 0, true);
}

function encodeStep(v: DataView, at: number, s: Step, i: number, arch: Arch): void {
  v.setUint16(at, OP[s.op], true);
  v.setInt16(at + 4, -1, true);
  if (s.op === "goto") setU64(v, at + 16, target(s.target.index, i));
  if (s.op === "fail") setU64(v, at + 16, s.errno);
  if (s.op !== "syscall") return;
  v.setUint16(at + 2, SYSCALLS[s.call][arch], true);
  v.setInt16(at + 4, s.out ?? -1, true);
  if (s.args.length > 6) throw new Error(`setup program: step ${i} has more than 6 arguments`);
  s.args.forEach((a, k) => {
    v.setUint8(at + 6 + k, KIND[a.kind]);
    setU64(v, at + 16 + k * 8, a.kind === "imm" ? a.value : a.kind === "data" ? a.offset : a.slot);
  });
  if (s.on.length > MAX_CASES) throw new Error(`setup program: step ${i} has more than ${MAX_CASES} errno cases`);
  s.on.forEach((c, k) => {
    const o = at + 64 + k * 8;
    v.setInt16(o, c.errno === "any" ? -1 : c.errno, true);
    const t = c.react;
    const action = "allow" in t ? ON.allow : "goto" in t ? ON.goto : ON.record;
    v.setUint16(o + 2, action, true);
    const l = "goto" in t ? t.goto : "record" in t ? t.record : undefined;
    v.setUint32(o + 4, l ? target(l.index, i) : 0, true);
  });
}

export function encodeProgram(p: Program, opts: { arch: Arch; trace: boolean }): Uint8Array {
  const size = HEADER_SIZE + p.steps.length * STEP_SIZE + p.relocs.length * 4 + p.data.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  const header = [MAGIC, VERSION, p.steps.length, p.relocs.length, p.data.length, opts.trace ? FLAG_TRACE : 0];
  for (const [i, x] of header.entries()) v.setUint32(i * 4, x, true);
  for (const [i, s] of p.steps.entries()) encodeStep(v, HEADER_SIZE + i * STEP_SIZE, s, i, opts.arch);
  const relocAt = HEADER_SIZE + p.steps.length * STEP_SIZE;
  for (const [i, r] of p.relocs.entries()) v.setUint32(relocAt + i * 4, r, true);
  out.set(p.data, relocAt + p.relocs.length * 4);
  return out;
}
