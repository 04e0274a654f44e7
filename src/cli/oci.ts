// runc's lifecycle commands: create, start, state, kill, delete. Each takes the
// container id as its operand; `--root DIR` (before the command, as runc has it)
// picks the state root.
import { PRESERVE_FDS, preserveFds } from "./preserve-fds.ts";
import {
  containerPids,
  containerState,
  deleteContainer,
  killContainer,
  listContainers,
  ociContainerExists,
  setPaused,
  startContainer,
} from "../lifecycle/container.ts";
import { UserError } from "../util/errors.ts";
import { stderr, stdout } from "../util/output.ts";
import { parseArgv, type FlagDef } from "./argv.ts";
import { reportingDebug } from "./debug.ts";

const HELP: FlagDef = { long: "help", short: "h", description: "show this help" };
const DEBUG: FlagDef = { long: "debug", description: "full traces on errors" };

export const OCI_FLAGS: Record<string, readonly FlagDef[]> = {
  create: [
    {
      long: "bundle",
      short: "b",
      value: true,
      hint: "DIR",
      description: "the bundle: config.json and usually the root filesystem (default: the current directory)",
    },
    { long: "pid-file", value: true, hint: "FILE", description: "write the container's pid here (no newline)" },
    { long: "trace", description: "print each setup step and its duration to stderr" },
    { long: "no-new-keyring", description: "keep the caller's session keyring (by default the container gets a new one, as with runc)" },
    { long: "no-pivot", description: "move the root over / and chroot instead of pivot_root (as runc's, for an initramfs root)" },
    PRESERVE_FDS,
    {
      long: "console-socket",
      value: true,
      hint: "SOCKET",
      description: "with process.terminal: the unix socket that receives the terminal's master end (as runc's)",
    },
    DEBUG,
    HELP,
  ],
  start: [DEBUG, HELP],
  pause: [DEBUG, HELP],
  resume: [DEBUG, HELP],
  state: [DEBUG, HELP],
  kill: [
    { long: "all", short: "a", description: "signal every process in the container's PID namespace, not just the first" },
    { long: "signal", short: "s", value: true, hint: "SIGNAL", description: "the signal (as podman's; runc takes it after the id)" },
    DEBUG,
    HELP,
  ],
  delete: [{ long: "force", short: "f", description: "kill a container that still runs, then delete it" }, DEBUG, HELP],
  list: [
    { long: "format", short: "f", value: true, hint: "table|json", description: "table (default) or json, as runc list" },
    { long: "quiet", short: "q", description: "ids only" },
    DEBUG,
    HELP,
  ],
  ps: [
    { long: "format", short: "f", value: true, hint: "table|json", description: "json: the pids (of ID), or the containers; table: ps's own listing" },
    { long: "all", short: "a", description: "without ID: stopped detached containers too" },
    { long: "quiet", short: "q", description: "without ID: names only" },
    DEBUG,
    HELP,
  ],
};

/** A signal by name (with or without SIG) or number, as runc's kill takes it. */
// Linux's signal numbers, the same on x86_64 and arm64 (node:os's table, without loading node:os on every kill).
const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
};

export function parseSignal(v: string): number {
  if (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 64) return Number(v);
  const name = v.toUpperCase().replace(/^SIG/, "");
  const n = Object.hasOwn(SIGNALS, name) ? SIGNALS[name] : undefined;
  if (n === undefined) throw new UserError(`kill: ${v}: not a signal name or number`);
  return n;
}

export function ociCli(cmd: string, argv: readonly string[], root: string | undefined, origin: number): Promise<number> {
  const defs = OCI_FLAGS[cmd]!;
  return reportingDebug(argv, defs, true, async () => {
    const p = parseArgv(argv, defs, cmd);
    if (p.bools.has("help")) {
      const { usage } = await import("./main.ts");
      stdout(`${await usage(cmd)}\n`);
      return 0;
    }
    const format = p.flags.get("format")?.at(-1) ?? "table";
    if (format !== "table" && format !== "json") throw new UserError(`${cmd}: --format ${format}: expected table or json`);
    if (cmd === "list") return list(root, format, p.bools.has("quiet"));
    const [id, ...rest] = p.operands;
    // podman's ps lists containers; runc's takes an id and lists its processes.
    if (cmd === "ps" && !id) return (await import("./containers.ts")).listCli({ all: p.bools.has("all"), quiet: p.bools.has("quiet"), format });
    if (!id) throw new UserError(`${cmd}: the container id is missing (see myuts ${cmd} --help)`);
    if (cmd === "ps") return ps(id, root, format, rest);
    if (rest.length > (cmd === "kill" ? 1 : 0)) throw new UserError(`${cmd}: unexpected ${rest.join(" ")} (see myuts ${cmd} --help)`);
    switch (cmd) {
      case "create": {
        // Only create builds a container: the other commands don't load the code that does.
        const [{ loadBundle }, { validateSpec }, { createContainer }] = await Promise.all([
          import("../spec/bundle.ts"),
          import("../spec/validate.ts"),
          import("../lifecycle/create.ts"),
        ]);
        const { dir, spec } = loadBundle(p.flags.get("bundle")?.at(-1) ?? ".");
        await createContainer(validateSpec(spec), {
          id,
          bundle: dir,
          root,
          pidFile: p.flags.get("pid-file")?.at(-1),
          consoleSocket: p.flags.get("console-socket")?.at(-1),
          noPivot: p.bools.has("no-pivot"),
          newKeyring: !p.bools.has("no-new-keyring"),
          preserveFds: preserveFds("create", p.flags.get("preserve-fds")?.at(-1)),
          trace: p.bools.has("trace"),
          origin,
        });
        return 0;
      }
      case "start":
        startContainer(id, root);
        return 0;
      case "pause":
      case "resume":
        setPaused(id, cmd === "pause", root);
        return 0;
      case "state":
        stdout(`${JSON.stringify(containerState(id, root), null, 2)}\n`);
        return 0;
      case "kill": {
        const signal = parseSignal(p.flags.get("signal")?.at(-1) ?? rest[0] ?? "TERM");
        if (!ociContainerExists(id, root)) {
          const { findRunContainer, killRunContainer } = await import("../lifecycle/containers.ts");
          const c = findRunContainer(id);
          if (c) {
            killRunContainer(c, signal);
            return 0;
          }
        }
        killContainer(id, signal, root, p.bools.has("all"));
        return 0;
      }
      default:
        await deleteContainer(id, p.bools.has("force"), root);
        return 0;
    }
  });
}

function list(root: string | undefined, format: string, quiet: boolean): number {
  const all = listContainers(root, (m) => stderr(`myuts: warning: ${m}\n`));
  if (quiet) {
    stdout(all.map((c) => `${c.id}\n`).join(""));
  } else if (format === "json") {
    stdout(`${JSON.stringify(all)}\n`);
  } else {
    const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED"], ...all.map((c) => [c.id, String(c.pid), c.status, c.bundle, c.created])];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    stdout(rows.map((r) => `${r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join("   ")}\n`).join(""));
  }
  return 0;
}

/** runc ps: the container's processes; with the table format, ps's own listing of them (extra args go to ps). */
function ps(id: string, root: string | undefined, format: string, psArgs: string[]): number {
  const pids = containerPids(id, root);
  if (format === "json") {
    stdout(`${JSON.stringify(pids)}\n`);
    return 0;
  }
  if (!pids.length) return 0;
  const r = Bun.spawnSync(["ps", ...(psArgs.length ? psArgs : ["-f"]), "-p", pids.join(",")], { stdout: "pipe", stderr: "pipe" });
  stdout(r.stdout.toString());
  if (r.exitCode !== 0) throw new UserError(`ps: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
  return 0;
}
