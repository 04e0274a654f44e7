// `myuts run` flags: util-linux unshare's namespace flags, docker's process flags.
import { absolute } from "../util/paths.ts";
import type { NamespaceType } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { MiB, readRegularFile, RefusedFile } from "../util/read-file.ts";
import { hasControl } from "../util/text.ts";
import { parseArgv, type FlagDef } from "./argv.ts";
import { callerIdentity, type UserHost } from "../lifecycle/identity.ts";
import { idArg } from "./ids.ts";
import type { UserNsOptions } from "../spec/from-run.ts";
import type { SeccompProfile } from "../spec/seccomp-profile.ts";
import { parseUserFlags, USER_FLAGS } from "./user-flags.ts";
import { parseResourceFlags, RESOURCE_FLAGS, type ResourceOptions } from "./resource-flags.ts";
import { checkName, randomName } from "../lifecycle/names.ts";
import { leafName } from "../cgroups/names.ts";
import { RLIMITS, UNLIMITED } from "../setup/rlimits.ts";
import type { Rlimit } from "../spec/types.ts";
import { parseDevice, type DeviceRequest } from "./device-flags.ts";

export const RUN_FLAGS: readonly FlagDef[] = [
  { long: "uts", short: "u", description: "new UTS namespace (hostname, domainname)" },
  { long: "pid", short: "p", description: "new PID namespace; the payload is PID 1. Without a limit's cgroup, only --pid makes sure its whole tree dies" },
  { long: "mount", short: "m", description: "new mount namespace (the host tree, made private)" },
  { long: "net", short: "n", description: "new network namespace (only lo, brought up)" },
  {
    long: "network",
    value: true,
    hint: "none|host|ns:PATH",
    description: "none: a new network namespace with only lo (as --net); host: the host's; ns:PATH: join that one (e.g. /run/netns/NAME)",
  },
  { long: "ipc", short: "i", description: "new IPC namespace" },
  { long: "cgroup", short: "C", description: "new cgroup namespace" },
  { long: "time", short: "T", description: "new time namespace" },
  ...USER_FLAGS,
  { long: "all", description: "all of uts, pid, mount, net, ipc, cgroup and time" },
  { long: "monotonic", value: true, hint: "SECONDS", description: "CLOCK_MONOTONIC offset in the time namespace (implies --time)" },
  { long: "boottime", value: true, hint: "SECONDS", description: "CLOCK_BOOTTIME offset in the time namespace (implies --time)" },
  { long: "hostname", value: true, hint: "NAME", description: "hostname inside (implies --uts)" },
  { long: "domainname", value: true, hint: "NAME", description: "NIS domain name inside (implies --uts)" },
  { long: "rootfs", value: true, hint: "DIR", description: "root filesystem to pivot into (implies --mount)" },
  {
    long: "image",
    value: true,
    hint: "REF",
    description: "run an image from the store (a name, a digest or an id); its layers become an overlay root (implies --mount)",
  },
  {
    long: "pull",
    value: true,
    hint: "missing|always|never",
    description: "with --image: pull it when it isn't in the store (missing, the default), every time, or never",
  },
  { long: "insecure", description: "with --image: pull over plain HTTP" },
  { long: "read-only", description: "mount the root filesystem read-only" },
  { long: "volume", short: "v", value: true, repeat: true, hint: "HOST:CONTAINER[:ro]", description: "bind-mount a host path" },
  { long: "tmpfs", value: true, repeat: true, hint: "PATH[:OPTIONS]", description: "mount a tmpfs" },
  { long: "env", short: "e", value: true, repeat: true, hint: "KEY=VAL", description: "set an environment variable (KEY alone copies the caller's)" },
  { long: "env-file", value: true, repeat: true, hint: "FILE", description: "read KEY=VAL lines from a regular file (at most 1 MiB)" },
  { long: "workdir", short: "w", value: true, hint: "DIR", description: "working directory inside" },
  { long: "cap-add", value: true, repeat: true, hint: "CAP", description: "add a capability (or ALL) to a root filesystem container's set" },
  { long: "cap-drop", value: true, repeat: true, hint: "CAP", description: "drop a capability (or ALL)" },
  { long: "privileged", description: "keep every capability and leave /proc and /sys unmasked" },
  {
    long: "security-opt",
    value: true,
    repeat: true,
    hint: "no-new-privileges|seccomp=unconfined|seccomp=FILE",
    description:
      "no-new-privileges: setuid files and file capabilities grant nothing (off by default, as in docker: setuid tools like ping and sudo rely on it); seccomp=FILE: a docker or OCI profile instead of the default one (a root filesystem container's), unconfined: none",
  },
  {
    long: "ulimit",
    value: true,
    repeat: true,
    hint: "TYPE=SOFT[:HARD]",
    description: "a resource limit, as docker's: nofile=1024:2048, nproc=64, core=0 (-1 or unlimited for none)",
  },
  {
    long: "sysctl",
    value: true,
    repeat: true,
    hint: "KEY=VALUE",
    description: "a namespaced kernel setting, as docker's: net.* (with --net), IPC ones (with --ipc), kernel.hostname",
  },
  {
    long: "device",
    value: true,
    repeat: true,
    hint: "HOST[:CONTAINER][:rwm]",
    description: "add a host device node to a root filesystem container's /dev (and to its cgroup's allow-list)",
  },
  { long: "setuid", value: true, hint: "UID", description: "run the payload as this uid" },
  { long: "setgid", value: true, hint: "GID", description: "run the payload as this gid" },
  { long: "groups", short: "G", value: true, repeat: true, hint: "GID[,GID...]", description: "supplementary groups" },
  { long: "name", value: true, hint: "NAME", description: "the container's name, for stats, update and events (default: a random id)" },
  ...RESOURCE_FLAGS,
  { long: "trace", description: "print each setup step and its duration to stderr" },
  { long: "dry-run", description: "print the setup program, one line per system call, and run nothing" },
  {
    long: "bundle",
    short: "b",
    value: true,
    hint: "DIR",
    description: "run an OCI bundle (config.json) as runc run does: myuts run -b DIR ID; the other options don't apply",
  },
  { long: "debug", description: "full traces on errors" },
  { long: "help", short: "h", description: "show this help" },
];

export interface RunOptions extends ResourceOptions {
  namespaces: Set<NamespaceType>;
  hostname?: string;
  domainname?: string;
  monotonic?: number;
  boottime?: number;
  rootfs?: string;
  /** --image REF, as given (resolved against the store by the CLI). */
  imageRef?: string;
  /** --pull: when to pull the image first. */
  pull: "missing" | "always" | "never";
  insecure: boolean;
  readOnly: boolean;
  volumes: string[];
  tmpfs: string[];
  env: string[];
  workdir?: string;
  setuid?: number;
  setgid?: number;
  groups: number[];
  args: string[];
  trace: boolean;
  dryRun: boolean;
  bundle?: string;
  debug: boolean;
  help: boolean;
  userns?: UserNsOptions;
  name: string;
  /** The caller chose the name (--name): the container is registered under it. */
  named: boolean;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
  /** --security-opt seccomp=: none, or a profile file's contents. */
  seccomp?: "unconfined" | SeccompProfile;
  devices: DeviceRequest[];
  sysctl: Record<string, string>;
  joinNamespaces?: Array<{ type: NamespaceType; path: string }>;
}

const ALL: NamespaceType[] = ["uts", "pid", "mount", "network", "ipc", "cgroup", "time"];
const NS_FLAGS: Record<string, NamespaceType> = {
  uts: "uts",
  pid: "pid",
  mount: "mount",
  net: "network",
  ipc: "ipc",
  cgroup: "cgroup",
  time: "time",
};

/** The kernel's KTIME_SEC_MAX: no clock offset goes beyond it. */
const KTIME_SEC_MAX = 9223372036;

function seconds(flag: string, v: string): number {
  if (!/^-?\d+$/.test(v)) throw new UserError(`run: --${flag} ${v}: not a whole number of seconds`);
  if (Math.abs(Number(v)) > KTIME_SEC_MAX) throw new UserError(`run: --${flag} ${v}: must be from -${KTIME_SEC_MAX} to ${KTIME_SEC_MAX} seconds`);
  return Number(v);
}

/** Parses `run`'s argv. `hostEnv` resolves `-e KEY`; `user` describes the caller for --user's mappings. */
export function parseRunArgs(argv: readonly string[], hostEnv: Record<string, string | undefined>, user: UserHost = callerIdentity()): RunOptions {
  const p = parseArgv(argv, RUN_FLAGS, "run");
  const one = (k: string) => p.flags.get(k)?.at(-1);
  const many = (k: string) => p.flags.get(k) ?? [];

  const namespaces = new Set<NamespaceType>();
  if (p.bools.has("all")) for (const n of ALL) namespaces.add(n);
  for (const [flag, ns] of Object.entries(NS_FLAGS)) if (p.bools.has(flag)) namespaces.add(ns);

  const opts: RunOptions = {
    namespaces,
    readOnly: p.bools.has("read-only"),
    pull: "missing",
    insecure: p.bools.has("insecure"),
    volumes: many("volume"),
    tmpfs: many("tmpfs"),
    env: [],
    groups: [],
    args: p.operands,
    trace: p.bools.has("trace"),
    dryRun: p.bools.has("dry-run"),
    bundle: one("bundle"),
    debug: p.bools.has("debug"),
    help: p.bools.has("help"),
    capAdd: many("cap-add"),
    capDrop: many("cap-drop"),
    privileged: p.bools.has("privileged"),
    rlimits: many("ulimit").map(parseUlimit),
    devices: many("device").map(parseDevice),
    sysctl: Object.fromEntries(many("sysctl").map(parseSysctl)),
    ...securityOpts(many("security-opt")),
    ...parseResourceFlags(p),
    name: one("name") !== undefined ? checkName(one("name")!) : randomName(),
    named: one("name") !== undefined,
  };
  const network = one("network");
  if (network !== undefined) {
    namespaces.delete("network");
    if (network === "none") namespaces.add("network");
    else if (/^ns:\/./.test(network)) opts.joinNamespaces = [{ type: "network", path: absolute(network.slice(3)) }];
    else if (network !== "host") {
      throw new UserError(`run: --network ${network}: expected none, host or ns:PATH (bridge networks come with the networking work)`);
    }
  }
  if (opts.cgroupns === "private") namespaces.add("cgroup");
  else if (opts.cgroupns === "host") namespaces.delete("cgroup");
  // As docker's --cgroup-parent: the container's own cgroup goes below it.
  if (opts.cgroupParent !== undefined) opts.cgroupParent = `${opts.cgroupParent.replace(/\/+$/, "")}/${leafName(opts.name)}`;
  const hostname = one("hostname");
  const domainname = one("domainname");
  if (hostname !== undefined) {
    if (hostname.length === 0 || hostname.length > 64) throw new UserError(`run: --hostname ${JSON.stringify(hostname)}: must be 1 to 64 characters`);
    if (hasControl(hostname)) throw new UserError(`run: --hostname ${JSON.stringify(hostname)}: contains a control character`);
    opts.hostname = hostname;
  }
  if (domainname !== undefined) {
    if (domainname.length > 64) throw new UserError(`run: --domainname: longer than 64 characters`);
    if (hasControl(domainname)) throw new UserError(`run: --domainname ${JSON.stringify(domainname)}: contains a control character`);
    opts.domainname = domainname;
  }
  if (opts.hostname !== undefined || opts.domainname !== undefined) namespaces.add("uts");

  const mono = one("monotonic");
  const boot = one("boottime");
  if (mono !== undefined) opts.monotonic = seconds("monotonic", mono);
  if (boot !== undefined) opts.boottime = seconds("boottime", boot);
  if (mono !== undefined || boot !== undefined) namespaces.add("time");

  // An empty path would resolve to the current directory: from /, the host itself.
  for (const flag of ["rootfs", "workdir", "cgroup-parent", "image"]) if (one(flag) === "") throw new UserError(`run: --${flag}: empty path`);
  for (const flag of ["volume", "tmpfs", "env-file"])
    if (many(flag).includes("")) throw new UserError(`run: --${flag}: empty ${flag === "env-file" ? "path" : "value"}`);
  const rootfs = one("rootfs");
  if (rootfs !== undefined) {
    opts.rootfs = absolute(rootfs);
    namespaces.add("mount");
  }
  const image = one("image");
  if (image !== undefined) {
    if (opts.rootfs !== undefined) throw new UserError("run: --image and --rootfs each give the root filesystem; use one");
    opts.imageRef = image;
    const pull = one("pull");
    if (pull !== undefined) {
      if (pull !== "missing" && pull !== "always" && pull !== "never")
        throw new UserError(`run: --pull ${JSON.stringify(pull)}: expected missing, always or never`);
      opts.pull = pull;
    }
    namespaces.add("mount");
  }
  if ((one("pull") !== undefined || opts.insecure) && image === undefined) throw new UserError("run: --pull and --insecure go with --image");
  if ((opts.volumes.length || opts.tmpfs.length || opts.readOnly) && !namespaces.has("mount")) namespaces.add("mount");
  if (opts.devices.length && !opts.rootfs && !opts.imageRef) throw new UserError("run: --device needs --rootfs (the node goes in the container's own /dev)");

  for (const file of many("env-file")) for (const e of readEnvFile(file)) opts.env.push(e);
  for (const e of many("env")) {
    if (e.includes("=")) opts.env.push(e);
    else if (hostEnv[e] !== undefined) opts.env.push(`${e}=${hostEnv[e]}`);
  }
  for (const e of opts.env) {
    const key = e.slice(0, e.indexOf("="));
    if (!key || key.includes("\0") || e.includes("\0")) throw new UserError(`run: --env ${JSON.stringify(e)}: not KEY=VALUE`);
  }

  const workdir = one("workdir");
  if (workdir !== undefined) {
    if (!workdir.startsWith("/")) throw new UserError(`run: --workdir ${workdir}: must be an absolute path`);
    opts.workdir = workdir;
  }
  const uid = one("setuid");
  const gid = one("setgid");
  if (uid !== undefined) opts.setuid = idArg("setuid", uid);
  if (gid !== undefined) opts.setgid = idArg("setgid", gid);
  const userns = parseUserFlags(p, user);
  if (userns) {
    opts.userns = userns;
    namespaces.add("user");
  }
  for (const g of many("groups")) for (const part of g.split(",").filter(Boolean)) opts.groups.push(idArg("groups", part));
  return opts;
}

/** Far more than any real environment; the kernel's own limit for argv and env is 2 MiB in all. */
const MAX_ENV_FILE = MiB;

/** KEY=VAL lines (blank lines and # comments skipped), from a regular file under the cap. */
export function readEnvFile(file: string): string[] {
  let text: string;
  try {
    text = readRegularFile(file, MAX_ENV_FILE).toString("utf8");
  } catch (e) {
    if (e instanceof RefusedFile) throw new UserError(`run: --env-file ${file}: ${e.message}; give a regular file of at most 1 MiB`);
    throw fsError(`run: --env-file ${file}`, e);
  }
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    if (!line.includes("="))
      throw new UserError(`run: --env-file ${file}: line ${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)} is not KEY=VALUE`);
    out.push(line);
  }
  return out;
}

/** docker's --ulimit: TYPE=SOFT[:HARD], the type without RLIMIT_, -1 or "unlimited" for none. */
function parseUlimit(v: string): Rlimit {
  const m = /^([a-z]+)=(-1|unlimited|\d+)(?::(-1|unlimited|\d+))?$/.exec(v);
  const type = m ? `RLIMIT_${m[1]!.toUpperCase()}` : "";
  if (!m || !(type in RLIMITS)) {
    const names = Object.keys(RLIMITS).map((k) => k.slice(7).toLowerCase());
    throw new UserError(`run: --ulimit ${v}: expected TYPE=SOFT[:HARD], TYPE one of ${names.join(", ")}`);
  }
  const value = (x: string) => (x === "-1" || x === "unlimited" ? UNLIMITED : Math.min(Number(x), UNLIMITED));
  const soft = value(m[2]!);
  const hard = m[3] === undefined ? soft : value(m[3]);
  if (soft > hard) throw new UserError(`run: --ulimit ${v}: the soft limit is above the hard one`);
  return { type, soft, hard };
}

function parseSysctl(v: string): [string, string] {
  const eq = v.indexOf("=");
  if (eq <= 0) throw new UserError(`run: --sysctl ${v}: expected KEY=VALUE`);
  return [v.slice(0, eq), v.slice(eq + 1)];
}

/** docker's --security-opt: no-new-privileges, and seccomp=unconfined|FILE (docker's profile format or OCI's). */
function securityOpts(values: readonly string[]): { noNewPrivileges: boolean; seccomp?: "unconfined" | SeccompProfile } {
  let noNewPrivileges = false;
  let seccomp: "unconfined" | SeccompProfile | undefined;
  for (const v of values) {
    const m = /^([a-z-]+)[=:](.*)$/.exec(v);
    const [key, value] = m ? [m[1]!, m[2]!] : [v, "true"];
    if (key === "no-new-privileges" && (value === "true" || value === "false")) noNewPrivileges = value === "true";
    else if (key === "seccomp" && value === "unconfined") seccomp = "unconfined";
    else if (key === "seccomp" && value) seccomp = readProfile(v, value);
    else if (key === "apparmor" || key === "label")
      throw new UserError(`run: --security-opt ${v}: this host has no AppArmor or SELinux for myuts to apply (use seccomp= or no-new-privileges)`);
    else throw new UserError(`run: --security-opt ${v}: expected no-new-privileges[=true|false] or seccomp=unconfined|FILE`);
  }
  return { noNewPrivileges, ...(seccomp ? { seccomp } : {}) };
}

function readProfile(flag: string, path: string): SeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularFile(path, 4 * MiB).toString("utf8"));
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserError(`run: --security-opt ${flag}: not valid JSON (${e.message})`);
    if (e instanceof RefusedFile) throw new UserError(`run: --security-opt ${flag}: ${e.message}`);
    throw fsError(`run: --security-opt ${flag}`, e, "open");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`run: --security-opt ${flag}: a profile is a JSON object`);
  return raw as SeccompProfile;
}
