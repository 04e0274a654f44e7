// `myuts run` flags: util-linux unshare's namespace flags, docker's process flags.
import { parseBytes } from "../cgroups/units.ts";
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
import { checkProfileName } from "../lifecycle/apparmor.ts";
import { labelFromParts } from "../lifecycle/selinux.ts";
import { leafName } from "../cgroups/names.ts";
import { RLIMITS, UNLIMITED } from "../setup/rlimits.ts";
import type { Rlimit } from "../spec/types.ts";
import { parseDevice, type DeviceRequest } from "./device-flags.ts";
import { PRESERVE_FDS, preserveFds } from "./preserve-fds.ts";
import { checkDns, checkSearch, NETWORK_NAME, parseAddHost, parsePublish, type NetworkRequest } from "../network/request.ts";

export const RUN_FLAGS: readonly FlagDef[] = [
  { long: "uts", short: "u", description: "new UTS namespace (hostname, domainname)" },
  { long: "pid", short: "p", description: "new PID namespace; the payload is PID 1. Without a limit's cgroup, only --pid makes sure its whole tree dies" },
  { long: "mount", short: "m", description: "new mount namespace (the host tree, made private)" },
  { long: "net", short: "n", description: "new network namespace (only lo, brought up)" },
  {
    long: "network",
    value: true,
    hint: "none|host|bridge|NAME|slirp4netns|ns:PATH",
    description:
      "none: a new network namespace with only lo (as --net); host: the host's; bridge: the default bridge network; NAME: a network from `myuts network create`; slirp4netns: a user-mode network (rootless); ns:PATH: join that one (e.g. /run/netns/NAME)",
  },
  {
    long: "publish",
    value: true,
    repeat: true,
    hint: "[IP:]HOST:CONTAINER[/tcp|udp]",
    description: "publish a container port on the host (with a bridge network); long form only: -p is --pid",
  },
  {
    long: "publish-all",
    short: "P",
    description: "with --image: publish every port the image exposes (ExposedPorts) on a free host port, as docker's -P (see myuts inspect)",
  },
  { long: "dns", value: true, repeat: true, hint: "ADDRESS", description: "a nameserver for the container's /etc/resolv.conf (with a bridge network)" },
  { long: "dns-search", value: true, repeat: true, hint: "DOMAIN", description: "a search domain for the container's /etc/resolv.conf" },
  { long: "add-host", value: true, repeat: true, hint: "NAME:IP", description: "a line for the container's /etc/hosts" },
  { long: "ipc", short: "i", description: "new IPC namespace" },
  { long: "cgroup", short: "C", description: "new cgroup namespace" },
  { long: "time", short: "T", description: "new time namespace" },
  ...USER_FLAGS,
  { long: "all", description: "all of uts, pid, mount, net, ipc, cgroup and time" },
  { long: "monotonic", value: true, hint: "SECONDS", description: "CLOCK_MONOTONIC offset in the time namespace (implies --time)" },
  { long: "boottime", value: true, hint: "SECONDS", description: "CLOCK_BOOTTIME offset in the time namespace (implies --time)" },
  { long: "hostname", value: true, hint: "NAME", description: "hostname inside (implies --uts)" },
  { long: "domainname", value: true, hint: "NAME", description: "NIS domain name inside (implies --uts)" },
  {
    long: "rootfs",
    value: true,
    hint: "DIR",
    description:
      "root filesystem to pivot into: a whole container, with its own pid, mount, uts, ipc, net and cgroup namespaces (docker's set), docker's capabilities, seccomp profile and masked paths",
  },
  {
    long: "share",
    value: true,
    repeat: true,
    hint: "pid,ipc,uts,net,cgroup",
    description: "with --rootfs: stay in the host's namespaces of these kinds instead (--network host and --cgroupns host also do)",
  },
  {
    long: "image",
    value: true,
    hint: "REF",
    description: "run an image from the store (a name, a digest or an id); its layers become an overlay root: a whole container, as with --rootfs",
  },
  {
    long: "pull",
    value: true,
    hint: "missing|always|never",
    description: "with --image: pull it when it isn't in the store (missing, the default), every time, or never",
  },
  { long: "insecure", description: "with --image: pull over plain HTTP" },
  { long: "read-only", description: "mount the root filesystem read-only" },
  {
    long: "volume",
    short: "v",
    value: true,
    repeat: true,
    hint: "HOST:CONTAINER[:ro][,idmap]",
    description: "bind-mount a host path; with idmap (in a user namespace) its files keep the host's owners inside, as podman's",
  },
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
    hint: "OPTION",
    description:
      "no-new-privileges: setuid files and file capabilities grant nothing (off by default, as in docker: setuid tools like ping and sudo rely on it); seccomp=FILE: a docker or OCI profile instead of the default one (a root filesystem container's), unconfined: none; apparmor=PROFILE: a loaded AppArmor profile instead of the default one (myuts-default-N, on hosts with AppArmor), unconfined: none; label=user:U|role:R|type:T|level:L: the SELinux context's parts, over the policy's default container context (none by default, as in docker)",
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
  { long: "no-new-keyring", description: "keep the caller's session keyring (a root filesystem or bundle container gets a new one by default)" },
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
  {
    long: "init",
    description:
      "a tiny PID 1 that reaps zombies and forwards signals to the payload, as docker's --init (the native init stays, no Bun process); without it a payload that is PID 1 ignores signals it doesn't handle, as in docker",
  },
  {
    long: "detach",
    short: "d",
    description:
      "start the container and return, printing its name; its output goes to a log (myuts logs) and it stays until myuts rm. With --bundle: runc run -d, under --root",
  },
  {
    long: "tty",
    short: "t",
    description:
      "a terminal of the container's own (a new pty, never the caller's), relayed to the caller's, with its window size; -it works as in docker (-i also gives a new IPC namespace)",
  },
  {
    long: "entrypoint",
    value: true,
    hint: "CMD",
    description: 'the command, run with the arguments after it; with --image, instead of the image\'s Entrypoint and Cmd ("" clears the Entrypoint)',
  },
  { long: "interactive", description: "keep stdin (docker's -i; a foreground run always has it, so this only documents the intent)" },
  { long: "rm", description: "with --detach: remove the container (its log too) when it ends; a foreground run leaves nothing anyway" },
  {
    long: "restart",
    value: true,
    hint: "no|on-failure[:N]",
    description: "with --detach: start the container again when it exits with a non-zero code (at most N times), unless myuts stop or rm ended it",
  },
  { long: "log-max-size", value: true, hint: "SIZE", description: "with --detach: rotate the log at this size, keeping one old file (default 10m)" },
  { long: "pid-file", value: true, hint: "FILE", description: "with --bundle --detach: write the container's pid here (no newline)" },
  PRESERVE_FDS,
  {
    long: "console-socket",
    value: true,
    hint: "SOCKET",
    description: "with --bundle --detach and process.terminal: the unix socket that receives the terminal's master end",
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
  detach: boolean;
  /** -t: a pty of the container's own. */
  tty: boolean;
  entrypoint?: string;
  /** --rm: a detached container is removed when it ends. */
  autoRemove: boolean;
  logMaxBytes?: number;
  /** --restart on-failure[:max]. */
  restart?: { max?: number };
  init: boolean;
  preserveFds?: number;
  pidFile?: string;
  consoleSocket?: string;
  debug: boolean;
  help: boolean;
  userns?: UserNsOptions;
  name: string;
  /** The caller chose the name (--name): the container is registered under it. */
  named: boolean;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  noNewKeyring: boolean;
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
  /** --security-opt seccomp=: none, or a profile file's contents. */
  seccomp?: "unconfined" | SeccompProfile;
  /** --security-opt apparmor=: a loaded profile's name, or "unconfined". */
  apparmor?: string;
  /** --security-opt label=: the SELinux contexts of the payload and of the container's filesystems. */
  selinux?: { process: string; mount?: string };
  devices: DeviceRequest[];
  sysctl: Record<string, string>;
  joinNamespaces?: Array<{ type: NamespaceType; path: string }>;
  /** -P: publish the image's ExposedPorts on free host ports. */
  publishAll?: boolean;
  /** --network bridge|NAME and the flags that go with it. */
  network?: NetworkRequest;
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

/**
 * docker's -p 8080:80, -u 1000, -m 64m and --user 1000 are namespace switches here (the
 * drop-in promise to unshare's users), so the value would become the command. When the
 * command right after such a switch looks like that value, say which flag does it.
 */
const DOCKER_LOOKALIKES: ReadonlyArray<{ switches: readonly string[]; value: RegExp; use: string; does: string }> = [
  {
    switches: ["-p", "--pid"],
    value: /^((\d{1,3}\.){3}\d{1,3}:)?\d+(-\d+)?(:\d+(-\d+)?)?(\/(tcp|udp|sctp))?$/,
    use: "--network bridge --publish VALUE",
    does: "publishes a port",
  },
  { switches: ["-u", "--uts"], value: /^\d+(:\d+)?$|^[a-z_][a-z0-9_-]*:[a-z0-9_-]+$/, use: "--setuid (and --setgid)", does: "runs the payload as a user" },
  { switches: ["-U", "--user"], value: /^\d+(:\d+)?$|^[a-z_][a-z0-9_-]*:[a-z0-9_-]+$/, use: "--setuid (and --setgid)", does: "runs the payload as a user" },
  { switches: ["-m", "--mount"], value: /^\d+(\.\d+)?[bkmgBKMG]?$/, use: "--memory", does: "limits memory" },
];

function dockerValueHint(argv: readonly string[], operands: readonly string[]): void {
  const cmd = operands[0];
  if (cmd === undefined) return;
  const at = argv.indexOf(cmd);
  const before = argv[at - 1];
  for (const l of DOCKER_LOOKALIKES) {
    if (before !== undefined && l.switches.includes(before) && l.value.test(cmd)) {
      throw new UserError(
        `run: ${before} ${cmd}: ${before} is unshare's ${l.switches[1]} switch here, so ${cmd} would run as the command; myuts's ${l.use.replace("VALUE", cmd)} ${l.does} (write -- before a command that really is named ${cmd})`,
      );
    }
  }
}

/** A root filesystem container's namespaces, as docker's. */
const CONTAINER_NAMESPACES: NamespaceType[] = ["pid", "mount", "uts", "ipc", "network", "cgroup"];
const SHAREABLE: Record<string, NamespaceType> = { pid: "pid", ipc: "ipc", uts: "uts", net: "network", network: "network", cgroup: "cgroup" };

/** --share pid,ipc,…: the kinds a container keeps from the host. */
function parseShare(values: readonly string[], container: boolean): NamespaceType[] {
  const out: NamespaceType[] = [];
  for (const v of values) {
    if (!container)
      throw new UserError(
        `run: --share ${v}: only a --rootfs or --image container has namespaces of its own to share (without them, myuts adds only the ones its switches name)`,
      );
    for (const kind of v.split(",")) {
      const ns = Object.hasOwn(SHAREABLE, kind) ? SHAREABLE[kind] : undefined;
      if (!ns) throw new UserError(`run: --share ${v}: ${JSON.stringify(kind)} is not one of pid, ipc, uts, net, cgroup`);
      out.push(ns);
    }
  }
  return out;
}

function restartPolicy(v: string | undefined): { max?: number } | undefined {
  if (v === undefined || v === "no") return undefined;
  const m = /^on-failure(?::(\d{1,6}))?$/.exec(v);
  if (m) return m[1] === undefined ? {} : { max: Number(m[1]) };
  if (v === "always" || v === "unless-stopped")
    throw new UserError(
      `run: --restart ${v}: not supported (myuts has no daemon to start containers again at boot); on-failure[:N] restarts after a failed exit`,
    );
  throw new UserError(`run: --restart ${v}: expected no or on-failure[:N]`);
}

function logSize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = parseBytes(v);
  if (n === undefined || n < 4096) throw new UserError(`run: --log-max-size ${v}: expected a size of at least 4k (such as 512k, 10m)`);
  return n;
}

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
  dockerValueHint(argv, p.operands);
  const one = (k: string) => p.flags.get(k)?.at(-1);
  const many = (k: string) => p.flags.get(k) ?? [];

  const namespaces = new Set<NamespaceType>();
  if (p.bools.has("all")) for (const n of ALL) namespaces.add(n);
  for (const [flag, ns] of Object.entries(NS_FLAGS)) if (p.bools.has(flag)) namespaces.add(ns);
  // A root filesystem or an image makes a whole container.
  const container = !!one("rootfs") || !!one("image");
  if (container) for (const ns of CONTAINER_NAMESPACES) namespaces.add(ns);
  for (const ns of parseShare(many("share"), container)) namespaces.delete(ns);

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
    detach: p.bools.has("detach"),
    autoRemove: p.bools.has("rm"),
    tty: p.bools.has("tty"),
    entrypoint: one("entrypoint"),
    logMaxBytes: logSize(one("log-max-size")),
    restart: restartPolicy(one("restart")),
    init: p.bools.has("init"),
    preserveFds: preserveFds("run", one("preserve-fds")),
    pidFile: one("pid-file"),
    consoleSocket: one("console-socket"),
    debug: p.bools.has("debug"),
    help: p.bools.has("help"),
    capAdd: many("cap-add"),
    capDrop: many("cap-drop"),
    privileged: p.bools.has("privileged"),
    noNewKeyring: p.bools.has("no-new-keyring"),
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
    else if (network !== "host" && NETWORK_NAME.test(network)) {
      namespaces.add("network");
      opts.network = networkFlags(network, many);
    } else if (network !== "host") {
      throw new UserError(`run: --network ${network}: expected none, host, bridge, slirp4netns, a network's name or ns:PATH`);
    }
  }
  // docker's default: an image runs on the default bridge network. Not in a user namespace
  // (a bridge needs root; say --network slirp4netns there), nor with the host's network shared.
  const wantsUserns = USER_FLAGS.some((f) => p.bools.has(f.long) || p.flags.has(f.long));
  if (network === undefined && one("image") !== undefined && namespaces.has("network") && !p.bools.has("net") && !wantsUserns) {
    opts.network = networkFlags("bridge", many);
  }
  for (const flag of ["publish", "dns", "dns-search", "add-host"])
    if (many(flag).length && !opts.network) throw new UserError(`run: --${flag} needs a network: --network bridge or --network NAME`);
  opts.publishAll = p.bools.has("publish-all");
  if (opts.publishAll && !opts.network) throw new UserError("run: --publish-all needs a network: --network bridge or --network NAME");
  if (opts.publishAll && one("image") === undefined) throw new UserError("run: --publish-all publishes an image's ExposedPorts: give --image");
  // The init stays as PID 1 in the runtime's context, and exec takes its context from there.
  if (opts.selinux && opts.init) throw new UserError("run: --init with an SELinux label is not supported: the init would keep the runtime's context");
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

function networkFlags(network: string, many: (k: string) => string[]): NetworkRequest {
  return {
    network,
    ports: many("publish").map(parsePublish),
    dns: many("dns").map(checkDns),
    dnsSearch: many("dns-search").map(checkSearch),
    addHosts: many("add-host").map(parseAddHost),
  };
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

/** docker's --security-opt: no-new-privileges, seccomp=unconfined|FILE (docker's profile format or OCI's), apparmor=PROFILE|unconfined, label=PART:VALUE|disable. */
function securityOpts(values: readonly string[]): {
  noNewPrivileges: boolean;
  seccomp?: "unconfined" | SeccompProfile;
  apparmor?: string;
  selinux?: { process: string; mount?: string };
} {
  let noNewPrivileges = false;
  let seccomp: "unconfined" | SeccompProfile | undefined;
  let apparmor: string | undefined;
  const label = new Map<string, string>();
  let labelFlag = "";
  let labelOff = false;
  for (const v of values) {
    const m = /^([a-z-]+)[=:](.*)$/.exec(v);
    const [key, value] = m ? [m[1]!, m[2]!] : [v, "true"];
    if (key === "no-new-privileges" && (value === "true" || value === "false")) noNewPrivileges = value === "true";
    else if (key === "seccomp" && value === "unconfined") seccomp = "unconfined";
    else if (key === "seccomp" && value) seccomp = readProfile(v, value);
    else if (key === "apparmor" && value === "unconfined") apparmor = value;
    else if (key === "apparmor") {
      checkProfileName(value, `run: --security-opt ${v}`);
      apparmor = value;
    } else if (key === "label" && value === "disable") labelOff = true;
    else if (key === "label" && /^(user|role|type|level):./.test(value)) {
      const at = value.indexOf(":");
      label.set(value.slice(0, at), value.slice(at + 1));
      labelFlag = v;
    } else if (key === "label") throw new UserError(`run: --security-opt ${v}: expected label=user:U, role:R, type:T, level:L or disable`);
    else
      throw new UserError(`run: --security-opt ${v}: expected no-new-privileges[=true|false], seccomp=unconfined|FILE, apparmor=PROFILE|unconfined or label=…`);
  }
  const selinux = label.size && !labelOff ? labelFromParts(label, labelFlag) : undefined;
  return { noNewPrivileges, ...(seccomp ? { seccomp } : {}), ...(apparmor ? { apparmor } : {}), ...(selinux ? { selinux } : {}) };
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
