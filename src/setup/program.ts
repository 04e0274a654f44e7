// The setup program: a flat list of system calls that the native init
// (ffi/native/init.c) runs inside the container's namespaces. TypeScript decides
// everything here; the init only executes. Plain data, so unit tests assert it.
import { encodeEscaped, hasEscapes } from "../../ffi/bytes.ts";
import type { Syscall } from "./syscalls.ts";

/**
 * An argument as the init sees it, plus what `--dry-run` needs to show it (rendered
 * only there: building display strings on every start would cost more than the rest).
 */
export type Arg =
  /** A number; `flags` names its bits, `label` replaces it. */
  | { kind: "imm"; value: number; label?: string; flags?: Readonly<Record<string, number>> }
  /** A pointer into the program's data block: a string (`text`) or a struct (`label`). */
  | { kind: "data"; offset: number; text?: string; label?: string | (() => string) }
  /** The value a previous step stored in a slot (a descriptor). */
  | { kind: "slot"; slot: number }
  /** "/proc/self/fd/N" for the descriptor in a slot: a path the kernel already resolved. */
  | { kind: "fdpath"; slot: number };

/** What an errno does instead of failing the container. */
export type Reaction =
  | { allow: true }
  | { goto: Label }
  /** Remember the first such failure (reported by a later `fail`), then jump. */
  | { record: Label };

export interface OnError {
  /** An errno, or "any". */
  errno: number | "any";
  react: Reaction;
}

/** How a failure reads: replaces the syscall's name in the message, and the exit code. */
export interface Meaning {
  say?: string;
  exitCode?: number;
}

export interface Common {
  /** What the step is for, in the words of the user's flags: the error's context and the trace line. */
  what: string;
  /** The exit code when this step fails (125 unless said). */
  exitCode?: number;
  /** Per-errno wording and exit codes. */
  meanings?: Record<number, Meaning>;
}

export type Step = Common &
  (
    | { op: "syscall"; call: Syscall; args: Arg[]; out?: number; on: OnError[] }
    | { op: "goto"; target: Label }
    /** Reports the failure a `record` reaction kept, else `errno` at this step. */
    | { op: "fail"; errno: number }
    /** Tells the runtime the container is ready (with a slot's value, `report`) and waits for its go-ahead. */
    | { op: "sync"; report?: number }
    /**
     * Clones the container's first process into new namespaces (`flags`, 0 for none); the parent
     * reports its pid and exits, the child goes on. With `cgroup` (a slot holding a cgroup v2
     * directory), the child is born in that cgroup (clone3's CLONE_INTO_CGROUP), or, where the
     * kernel has no clone3, cloned as without it.
     */
    | { op: "fork"; flags: number; parent?: Label; cgroup?: number }
    /** Reads the next program from the runtime and runs it from its first step. */
    | { op: "load" }
    /** Stays PID 1 (reaping, forwarding signals, exiting with the child's status); the child runs the rest. */
    | { op: "pid1" }
    /**
     * A detached container's monitor (the parent of a `fork` with `parent`): copies the
     * output pipes into the log, records the exit code, then runs the exit command. Its
     * arguments: the pipes (stdout | stderr << 16), the log's and the rotated log's paths
     * (one after the other), the size cap, the exit code's file, the command's argv and envp.
     */
    | { op: "monitor"; args: Arg[] }
    /**
     * Runs a hook in the container (OCI startContainer): its path, argv and envp, the state
     * for its stdin and its length, the timeout in ms (0: none). Fails unless it exits 0.
     */
    | { op: "hook"; args: Arg[] }
  );

export class Label {
  index = -1;
  constructor(readonly name: string) {}
}

export interface Program {
  steps: Step[];
  /** Strings, structs and pointer arrays the arguments point into. */
  data: Uint8Array;
  /** Offsets in `data` of pointers stored relative to the data block. */
  relocs: number[];
  slotNames: string[];
}

const MAX_SLOTS = 64;
const encoder = new TextEncoder();

/** Builds a program: data, slots, labels and steps. */
export class ProgramBuilder {
  readonly steps: Step[] = [];
  /** The data block, grown by doubling; `size` bytes are used. */
  private data = new Uint8Array(4096);
  private size = 0;
  private readonly relocs: number[] = [];
  private readonly slots = new Map<string, number>();
  private readonly strings = new Map<string, number>();

  /** A named slot; the same name is the same slot. */
  slot(name: string): number {
    let s = this.slots.get(name);
    if (s === undefined) {
      s = this.slots.size;
      if (s >= MAX_SLOTS) throw new Error(`setup program: more than ${MAX_SLOTS} slots`);
      this.slots.set(name, s);
    }
    return s;
  }

  /** Reserves `n` bytes at `align`; returns their offset. */
  private reserve(n: number, align: number): number {
    const at = Math.ceil(this.size / align) * align;
    if (at + n > this.data.length) {
      const grown = new Uint8Array(Math.max(this.data.length * 2, at + n));
      grown.set(this.data.subarray(0, this.size));
      this.data = grown;
    }
    this.size = at + n;
    return at;
  }

  private put(bytes: Uint8Array, align = 8): number {
    const at = this.reserve(bytes.length, align);
    this.data.set(bytes, at);
    return at;
  }

  private stringAt(s: string | Uint8Array): number {
    if (typeof s !== "string" || hasEscapes(s)) return this.bytesAt(typeof s === "string" ? encodeEscaped(s) : s);
    let at = this.strings.get(s);
    if (at !== undefined) return at;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the unused tail is given back.
    at = this.reserve(s.length * 3 + 1, 1);
    const { written } = encoder.encodeInto(s, this.data.subarray(at));
    this.data[at + written] = 0;
    this.size = at + written + 1;
    this.strings.set(s, at);
    return at;
  }

  private bytesAt(s: Uint8Array): number {
    const at = this.reserve(s.length + 1, 1);
    this.data.set(s, at);
    this.data[at + s.length] = 0;
    return at;
  }

  /** A NUL-terminated string; escaped bytes (ffi/bytes.ts) and Uint8Arrays pass through as bytes. */
  str(s: string | Uint8Array): Arg {
    return { kind: "data", offset: this.stringAt(s), text: typeof s === "string" ? s : new TextDecoder().decode(s) };
  }

  /** Raw bytes (a struct). */
  bytes(b: Uint8Array, label: string | (() => string)): Arg {
    return { kind: "data", offset: this.put(b), label };
  }

  /** A NULL-terminated array of string pointers (argv, envp). */
  strArray(items: readonly (string | Uint8Array)[], label: string): Arg {
    const ptrs = items.map((s) => this.stringAt(s));
    // Offsets fit in 32 bits; the high halves stay 0 until the init relocates them.
    const table = new Uint32Array((ptrs.length + 1) * 2);
    ptrs.forEach((p, i) => {
      table[i * 2] = p;
    });
    const at = this.put(new Uint8Array(table.buffer));
    for (let i = 0; i < ptrs.length; i++) this.relocs.push(at + i * 8);
    return { kind: "data", offset: at, label };
  }

  /** struct sock_fprog for seccomp(2): the instruction count and a pointer to the filter. */
  sockFprog(filter: Uint8Array, label: string): Arg {
    const insns = this.put(filter);
    const head = new Uint32Array([filter.length / 8, 0, insns, 0]);
    const at = this.put(new Uint8Array(head.buffer));
    this.relocs.push(at + 8);
    return { kind: "data", offset: at, label };
  }

  imm(value: number, label?: string): Arg {
    return { kind: "imm", value, label };
  }

  /** A number made of flag bits, shown by their names. */
  flags(value: number, names: Readonly<Record<string, number>>): Arg {
    return { kind: "imm", value, flags: names };
  }

  ref(slot: number): Arg {
    return { kind: "slot", slot };
  }

  fdPath(slot: number): Arg {
    return { kind: "fdpath", slot };
  }

  call(what: string, call: Syscall, args: Arg[], opts: { out?: number; on?: OnError[]; exitCode?: number; meanings?: Record<number, Meaning> } = {}): void {
    this.steps.push({ op: "syscall", what, call, args, on: opts.on ?? [], out: opts.out, exitCode: opts.exitCode, meanings: opts.meanings });
  }

  goto(target: Label): void {
    this.steps.push({ op: "goto", what: "", target });
  }

  fail(what: string, errno: number, meanings?: Record<number, Meaning>): void {
    this.steps.push({ op: "fail", what, errno, meanings });
  }

  sync(what: string, report?: number): void {
    this.steps.push(report === undefined ? { op: "sync", what } : { op: "sync", what, report });
  }

  /** With `parent`, the parent goes on at that label (a monitor) instead of exiting; with `cgroup`, the child starts in it. */
  fork(what: string, flags = 0, parent?: Label, cgroup?: number): void {
    this.steps.push({ op: "fork", what, flags, ...(parent ? { parent } : {}), ...(cgroup !== undefined ? { cgroup } : {}) });
  }

  monitor(what: string, args: Arg[]): void {
    this.steps.push({ op: "monitor", what, args });
  }

  hook(what: string, args: Arg[], meanings?: Record<number, Meaning>): void {
    this.steps.push({ op: "hook", what, args, meanings });
  }

  pid1(what: string): void {
    this.steps.push({ op: "pid1", what });
  }

  load(what: string): void {
    this.steps.push({ op: "load", what });
  }

  label(name: string): Label {
    return new Label(name);
  }

  /** The next step is `l`'s target. */
  place(l: Label): void {
    l.index = this.steps.length;
  }

  build(): Program {
    return { steps: this.steps, data: this.data.slice(0, this.size), relocs: [...this.relocs], slotNames: [...this.slots.keys()] };
  }
}

export const allow = (...errnos: number[]): OnError[] => errnos.map((errno) => ({ errno, react: { allow: true } }));
export const onGoto = (target: Label, ...errnos: number[]): OnError[] => errnos.map((errno) => ({ errno, react: { goto: target } }));
