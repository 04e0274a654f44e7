// A strict, util-linux-style option parser: options come first, the first operand
// (or "--") starts the payload's argv, which passes through untouched. citty's own
// parser would swallow the payload's flags (`run ls -la`), so commands that take a
// payload parse with this one, driven by the same table that renders citty's help.
import type { ArgsDef } from "citty";
import { UserError } from "../util/errors.ts";

export interface FlagDef {
  long: string;
  short?: string;
  /** Takes a value (`--x V`, `--x=V`, `-xV`). */
  value?: boolean;
  repeat?: boolean;
  hint?: string;
  description: string;
}

export interface Parsed {
  flags: Map<string, string[]>;
  bools: Set<string>;
  operands: string[];
}

export function parseArgv(argv: readonly string[], defs: readonly FlagDef[], cmd: string): Parsed {
  const byLong = new Map(defs.map((d) => [d.long, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  const flags = new Map<string, string[]>();
  const bools = new Set<string>();

  const set = (def: FlagDef, value: string | undefined, spelled: string) => {
    if (!def.value) {
      if (value !== undefined) throw new UserError(`${cmd}: option ${spelled} takes no value`);
      bools.add(def.long);
      return;
    }
    if (value === undefined) throw new UserError(`${cmd}: option ${spelled} needs a value${def.hint ? ` (${def.hint})` : ""}`);
    const list = flags.get(def.long) ?? [];
    if (list.length && !def.repeat) list.length = 0;
    list.push(value);
    flags.set(def.long, list);
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      i++;
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const def = byLong.get(name);
      if (!def) throw new UserError(`${cmd}: unknown option --${name} (see myuts ${cmd} --help)`);
      let value = eq === -1 ? undefined : a.slice(eq + 1);
      if (def.value && value === undefined) {
        value = argv[++i];
      }
      set(def, value, `--${name}`);
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      // bundled short options: -upm, -vHOST:DIR, -v HOST:DIR
      for (let j = 1; j < a.length; j++) {
        const def = byShort.get(a[j]!);
        if (!def) throw new UserError(`${cmd}: unknown option -${a[j]} (see myuts ${cmd} --help)`);
        if (def.value) {
          const rest = a.slice(j + 1);
          set(def, rest.length ? rest : argv[++i], `-${a[j]}`);
          break;
        }
        set(def, undefined, `-${a[j]}`);
      }
      continue;
    }
    break;
  }
  return { flags, bools, operands: argv.slice(i) };
}

/** citty's `args` shape, so `--help` lists the same table. */
export function cittyArgs(defs: readonly FlagDef[]): ArgsDef {
  const out: ArgsDef = {};
  for (const d of defs) {
    out[d.long] = {
      type: d.value ? "string" : "boolean",
      description: d.description + (d.repeat ? " (repeatable)" : ""),
      ...(d.short ? { alias: d.short } : {}),
      ...(d.hint ? { valueHint: d.hint } : {}),
    };
  }
  return out;
}

/**
 * Whether `--debug` is among a command's options (before its first operand or
 * `--`; with `leadingOperand`, a first operand such as a container name is
 * skipped). Found without parsing, so a bad flag elsewhere still gets its trace.
 */
export function debugRequested(argv: readonly string[], defs: readonly FlagDef[], leadingOperand = false): boolean {
  const byLong = new Map(defs.map((d) => [d.long, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  for (let i = leadingOperand && argv[0] !== undefined && !argv[0].startsWith("-") ? 1 : 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return false;
    if (a === "--debug") return true;
    if (a.startsWith("--")) {
      if (byLong.get(a.slice(2))?.value) i++;
    } else if (a.startsWith("-") && a.length > 1) {
      const j = [...a.slice(1)].findIndex((c) => byShort.get(c)?.value);
      if (j === a.length - 2) i++; // a value-taking short option last: its value is the next word
    } else {
      return false;
    }
  }
  return false;
}
