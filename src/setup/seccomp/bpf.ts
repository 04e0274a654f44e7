// The OCI seccomp section → a classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER).
//
// Layout: check the architecture, load the syscall number, then a binary search over
// the numbers the profile names (so a call costs ~log2(n) comparisons, not one per
// allowed syscall), each leaf running that syscall's rules in order. A rule with
// argument conditions is tried before an unconditional one for the same call; the
// first whose conditions all hold gives the action; none → the default action.
import { UserError } from "../../util/errors.ts";
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from "../../spec/types.ts";
import type { Arch } from "../syscalls.ts";
import { isOtherArchName, syscallNumbers } from "./numbers.ts";

const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;

/** AUDIT_ARCH_* of the architectures myuts runs on, and the OCI names of their native ABI. */
const AUDIT_ARCH: Record<Arch, { value: number; names: string[] }> = {
  x64: { value: 0xc000003e, names: ["SCMP_ARCH_X86_64"] },
  arm64: { value: 0xc00000b7, names: ["SCMP_ARCH_AARCH64"] },
};
export const SECCOMP_ARCHES: readonly string[] = [
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
];
const KNOWN_ARCHES = new Set(SECCOMP_ARCHES);
/** x32's calls are x86-64's with this bit set; they are filtered as a foreign ABI. */
const X32_SYSCALL_BIT = 0x40000000;

// Classic BPF opcodes.
const LD_W_ABS = 0x20;
const ALU_AND_K = 0x54;
const JMP_JA = 0x05;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const RET_K = 0x06;
const BPF_MAXINSNS = 4096;

const OFF_NR = 0;
const OFF_ARCH = 4;
const argLo = (i: number) => 16 + i * 8;
const argHi = (i: number) => 20 + i * 8;

/** Where a jump goes: a label, resolved once the program is laid out. */
class Mark {
  at = -1;
}

type Insn = { code: number; k: number; jt?: Mark | number; jf?: Mark | number; ja?: Mark };

/** A tiny assembler: forward jumps to marks, checked against BPF's 8-bit reach. */
class Asm {
  readonly insns: Insn[] = [];
  emit(code: number, k: number, jt?: Mark | number, jf?: Mark | number): void {
    this.insns.push({ code, k: k >>> 0, jt, jf });
  }
  ja(to: Mark): void {
    this.insns.push({ code: JMP_JA, k: 0, ja: to });
  }
  ret(action: number): void {
    this.emit(RET_K, action);
  }
  mark(m: Mark): void {
    m.at = this.insns.length;
  }
  encode(): Uint8Array {
    if (this.insns.length > BPF_MAXINSNS)
      throw new UserError(`spec: linux.seccomp: the filter needs ${this.insns.length} instructions, more than the kernel's ${BPF_MAXINSNS}`);
    const out = new Uint8Array(this.insns.length * 8);
    const v = new DataView(out.buffer);
    this.insns.forEach((ins, i) => {
      const rel = (t: Mark | number | undefined): number => {
        if (t === undefined) return 0;
        if (typeof t === "number") return t;
        const d = t.at - i - 1;
        if (t.at < 0 || d < 0) throw new Error("seccomp: a jump to an unplaced or earlier mark");
        return d;
      };
      const jt = rel(ins.jt);
      const jf = rel(ins.jf);
      if (jt > 255 || jf > 255) throw new Error("seccomp: a conditional jump beyond 255 instructions");
      v.setUint16(i * 8, ins.code, true);
      v.setUint8(i * 8 + 2, jt);
      v.setUint8(i * 8 + 3, jf);
      v.setUint32(i * 8 + 4, ins.ja ? rel(ins.ja) : ins.k, true);
    });
    return out;
  }
}

export interface CompiledFilter {
  /** struct sock_filter[], 8 bytes each. */
  filter: Uint8Array;
  /** seccomp(2)'s flags. */
  flags: number;
  /** Some rule notifies a listener (SCMP_ACT_NOTIFY). */
  notify: boolean;
}

function bad(what: string): never {
  throw new UserError(`spec: linux.seccomp${what}`);
}

function u16(v: unknown, where: string): number {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffff) bad(`${where}: ${JSON.stringify(v)} must be a number from 0 to 65535`);
  return v as number;
}

export const SECCOMP_ACTIONS: readonly string[] = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_TRAP",
];
export const SECCOMP_OPERATORS: readonly string[] = [
  "SCMP_CMP_EQ",
  "SCMP_CMP_NE",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_LE",
  "SCMP_CMP_LT",
  "SCMP_CMP_MASKED_EQ",
];

/** The SECCOMP_RET_* word for an OCI action; `field` names the action, `errnoField` its errno. */
function action(name: unknown, errnoRet: unknown, fallbackErrno: number, field: string, errnoField: string): number {
  const errno = errnoRet === undefined ? fallbackErrno : u16(errnoRet, errnoField);
  switch (name) {
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return RET.TRAP;
    case "SCMP_ACT_ERRNO":
      return RET.ERRNO | errno;
    case "SCMP_ACT_TRACE":
      return RET.TRACE | errno;
    case "SCMP_ACT_LOG":
      return RET.LOG;
    case "SCMP_ACT_ALLOW":
      return RET.ALLOW;
    case "SCMP_ACT_NOTIFY":
      return RET.USER_NOTIF;
    default:
      return bad(`${field}: unknown action ${JSON.stringify(name)}`);
  }
}

function u64(v: unknown, where: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) bad(`${where}: ${JSON.stringify(v)} must be a whole number from 0 to 2^53-1`);
  return v as number;
}

const hi = (n: number) => Math.floor(n / 0x100000000) >>> 0;
const lo = (n: number) => n >>> 0;

/** Jumps to `fail` unless argument `a` satisfies its comparison; falls through when it does. */
function condition(asm: Asm, a: LinuxSeccompArg, fail: Mark, where: string): void {
  if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) bad(`${where}.index: ${JSON.stringify(a.index)} must be 0 to 5`);
  const v = u64(a.value, `${where}.value`);
  const pass = new Mark();
  const i = a.index;
  switch (a.op) {
    case "SCMP_CMP_EQ":
      asm.emit(LD_W_ABS, argHi(i));
      asm.emit(JEQ_K, hi(v), 0, fail);
      asm.emit(LD_W_ABS, argLo(i));
      asm.emit(JEQ_K, lo(v), 0, fail);
      break;
    case "SCMP_CMP_NE":
      asm.emit(LD_W_ABS, argHi(i));
      asm.emit(JEQ_K, hi(v), 0, pass);
      asm.emit(LD_W_ABS, argLo(i));
      asm.emit(JEQ_K, lo(v), fail, 0);
      break;
    case "SCMP_CMP_MASKED_EQ": {
      const want = u64(a.valueTwo ?? 0, `${where}.valueTwo`);
      asm.emit(LD_W_ABS, argHi(i));
      asm.emit(ALU_AND_K, hi(v));
      asm.emit(JEQ_K, hi(want), 0, fail);
      asm.emit(LD_W_ABS, argLo(i));
      asm.emit(ALU_AND_K, lo(v));
      asm.emit(JEQ_K, lo(want), 0, fail);
      break;
    }
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE":
      // The high words decide unless equal; then the low words do.
      asm.emit(LD_W_ABS, argHi(i));
      asm.emit(JGT_K, hi(v), pass, 0);
      asm.emit(JEQ_K, hi(v), 0, fail);
      asm.emit(LD_W_ABS, argLo(i));
      asm.emit(a.op === "SCMP_CMP_GT" ? JGT_K : JGE_K, lo(v), pass, fail);
      break;
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE":
      asm.emit(LD_W_ABS, argHi(i));
      asm.emit(JGE_K, hi(v), 0, pass);
      asm.emit(JGT_K, hi(v), fail, 0);
      asm.emit(LD_W_ABS, argLo(i));
      asm.emit(a.op === "SCMP_CMP_LT" ? JGE_K : JGT_K, lo(v), fail, pass);
      break;
    default:
      bad(`${where}.op: unknown comparison ${JSON.stringify(a.op)}`);
  }
  asm.mark(pass);
}

interface Rule {
  ret: number;
  args: LinuxSeccompArg[];
  where: string;
}

/** A run of syscall numbers from `start` up to the next interval's start: one action, or one call's rules. */
interface Interval {
  start: number;
  ret: number;
  rules?: Rule[];
}

/** One syscall's rules: conditional ones in order, then the first unconditional one, else the default. */
function leaf(asm: Asm, rules: Rule[], dflt: number): void {
  let final = dflt;
  let hasFinal = false;
  for (const r of rules) {
    if (r.args.length === 0) {
      if (!hasFinal) [final, hasFinal] = [r.ret, true];
      continue;
    }
    const next = new Mark();
    for (const [k, a] of r.args.entries()) condition(asm, a, next, `${r.where}.args[${k}]`);
    asm.ret(r.ret);
    asm.mark(next);
  }
  asm.ret(final);
}

/**
 * The number line cut where the action changes: neighbours with the same plain action
 * share an interval, so a profile's few hundred calls make a few dozen intervals.
 */
function intervals(rules: Map<number, Rule[]>, dflt: number): Interval[] {
  const out: Interval[] = [{ start: 0, ret: dflt }];
  const plain = (list: Rule[]): number | undefined => (list.every((r) => r.args.length === 0) ? list[0]!.ret : undefined);
  for (const nr of [...rules.keys()].sort((a, b) => a - b)) {
    const list = rules.get(nr)!;
    const ret = plain(list);
    const last = out[out.length - 1]!;
    if (ret !== undefined && !last.rules && last.ret === ret) {
      // Extends the previous interval (it already covers nr).
    } else if (last.start === nr) {
      out[out.length - 1] = ret === undefined ? { start: nr, ret: dflt, rules: list } : { start: nr, ret };
    } else {
      out.push(ret === undefined ? { start: nr, ret: dflt, rules: list } : { start: nr, ret });
    }
    // Past nr, the default again (a no-op when nr+1 opens the next interval).
    if (nr + 1 <= 0xffffffff) out.push({ start: nr + 1, ret: dflt });
  }
  // Adjacent intervals with the same plain action merge.
  const merged: Interval[] = [];
  for (const iv of out) {
    const last = merged[merged.length - 1];
    if (last && last.start === iv.start) merged[merged.length - 1] = iv;
    else if (last && !last.rules && !iv.rules && last.ret === iv.ret) continue;
    else merged.push(iv);
  }
  return merged;
}

/** A binary search over the intervals with `jge`; the accumulator holds the syscall number throughout. */
function search(asm: Asm, ivs: Interval[], dflt: number): void {
  if (ivs.length === 1) {
    const iv = ivs[0]!;
    if (iv.rules) leaf(asm, iv.rules, dflt);
    else asm.ret(iv.ret);
    return;
  }
  const mid = ivs.length >> 1;
  const right = new Mark();
  asm.emit(JGE_K, ivs[mid]!.start, 0, 1);
  asm.ja(right);
  search(asm, ivs.slice(0, mid), dflt);
  asm.mark(right);
  // A leaf's argument loads changed the accumulator, but every leaf ends in a return.
  search(asm, ivs.slice(mid), dflt);
}

function syscallNumber(name: unknown, arch: Arch, where: string): number | undefined {
  if (typeof name !== "string") return bad(`${where}: ${JSON.stringify(name)} is not a system call name`);
  const nr = syscallNumbers(arch).get(name);
  if (nr !== undefined) return nr;
  if (isOtherArchName(name) || syscallNumbers(arch === "x64" ? "arm64" : "x64").has(name)) return undefined;
  return bad(`${where}: unknown system call ${JSON.stringify(name)}`);
}

/** Validation compiles a section, the setup program needs it again: once per section. */
const compiled = new WeakMap<LinuxSeccomp, { arch: Arch; filter: CompiledFilter }>();

/** Compiles (and so checks) a spec's seccomp section for `arch`. */
export function compileSeccomp(s: LinuxSeccomp, arch: Arch): CompiledFilter {
  const hit = typeof s === "object" && s !== null ? compiled.get(s) : undefined;
  if (hit && hit.arch === arch) return hit.filter;
  const filter = compileSection(s, arch);
  compiled.set(s, { arch, filter });
  return filter;
}

/** A section whose filter was compiled ahead (the default profile, at build time): the compiler is skipped. */
export function precompiled(s: LinuxSeccomp, arch: Arch, filter: Uint8Array): LinuxSeccomp {
  compiled.set(s, { arch, filter: { filter, flags: 0, notify: false } });
  return s;
}

function compileSection(s: LinuxSeccomp, arch: Arch): CompiledFilter {
  if (typeof s !== "object" || s === null) bad(": must be an object");
  const dfltErrno = s.defaultErrnoRet === undefined ? 1 /* EPERM */ : u16(s.defaultErrnoRet, ".defaultErrnoRet");
  const dflt = action(s.defaultAction, dfltErrno, dfltErrno, ".defaultAction", ".defaultErrnoRet");
  let flags = 0;
  for (const f of s.flags ?? []) {
    const bit = SECCOMP_FILTER_FLAGS[f];
    if (bit === undefined || !Object.hasOwn(SECCOMP_FILTER_FLAGS, f)) bad(`.flags: unknown flag ${JSON.stringify(f)}`);
    flags |= bit;
  }
  for (const a of s.architectures ?? []) if (!KNOWN_ARCHES.has(a)) bad(`.architectures: unknown architecture ${JSON.stringify(a)}`);
  let notify = dflt === RET.USER_NOTIF;
  const rules = new Map<number, Rule[]>();
  (s.syscalls ?? []).forEach((sc: LinuxSyscall, i) => {
    const where = `.syscalls[${i}]`;
    if (!Array.isArray(sc.names) || sc.names.length === 0) bad(`${where}.names: must list at least one system call`);
    const ret = action(sc.action, sc.errnoRet, 1, `${where}.action`, `${where}.errnoRet`);
    if (ret === RET.USER_NOTIF) notify = true;
    const args = sc.args ?? [];
    if (!Array.isArray(args) || args.length > 6) bad(`${where}.args: at most 6 comparisons`);
    for (const name of sc.names) {
      const nr = syscallNumber(name, arch, `${where}.names`);
      if (nr === undefined) continue;
      const list = rules.get(nr) ?? [];
      list.push({ ret, args, where });
      rules.set(nr, list);
    }
  });
  if (notify) flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;

  const asm = new Asm();
  const native = new Mark();
  // Another ABI's numbers mean other calls: it gets the default action, or is killed
  // when the default allows (a foreign-ABI call would bypass every rule).
  const foreign = dflt === RET.ALLOW || dflt === RET.LOG ? RET.KILL_PROCESS : dflt;
  asm.emit(LD_W_ABS, OFF_ARCH);
  asm.emit(JEQ_K, AUDIT_ARCH[arch].value, native, 0);
  asm.ret(foreign);
  asm.mark(native);
  asm.emit(LD_W_ABS, OFF_NR);
  if (arch === "x64") {
    const ok = new Mark();
    asm.emit(JGE_K, X32_SYSCALL_BIT, 0, ok);
    asm.ret(foreign);
    asm.mark(ok);
  }
  search(asm, intervals(rules, dflt), dflt);
  return { filter: asm.encode(), flags, notify };
}

export { AUDIT_ARCH };
