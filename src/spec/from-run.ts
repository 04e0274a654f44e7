// `myuts run` flags → an OCI runtime spec. Pure: the caller passes what it knows
// of the host, so this is unit-testable and the engine sees only a spec.
import { UserError } from "../util/errors.ts";
import { DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS, rootfsMounts } from "./defaults.ts";
import { applyCapFlags, CAPABILITIES, DEFAULT_CAPABILITIES } from "./capabilities.ts";
import { maps as mapsId } from "../lifecycle/idmap.ts";
import { DEFAULT_APPARMOR_PROFILE } from "../lifecycle/apparmor.ts";
import { os, path } from "../util/node.ts";
import { hostArch, type Arch } from "../setup/syscalls.ts";
import { defaultSeccomp } from "./seccomp-default.ts";
import { defaultFilter } from "./default-filter.ts";
import { precompiled } from "../setup/seccomp/bpf.ts";
import { NETWORK_ANNOTATION, type NetworkRequest } from "../network/request.ts";
import { seccompFromProfile, type SeccompProfile } from "./seccomp-profile.ts";
import {
  OCI_VERSION,
  SETGROUPS_ANNOTATION,
  type IDMapping,
  type LinuxDevice,
  type LinuxResources,
  type Mount,
  type Rlimit,
  type NamespaceType,
  type RootOverlay,
  type Spec,
} from "./types.ts";

/** A new user namespace as `run`'s flags ask for it. */
export interface UserNsOptions {
  uidMappings: IDMapping[];
  gidMappings: IDMapping[];
  setgroups: "allow" | "deny";
  /** Who the payload runs as unless --setuid/--setgid say otherwise. */
  uid: number;
  gid: number;
}

/** What `run`'s flags ask for: the input of the spec builder (the CLI's parsed options are one). */
export interface RunRequest {
  namespaces: ReadonlySet<NamespaceType>;
  args: readonly string[];
  rootfs?: string;
  /** -t: process.terminal (a pty of its own). */
  tty?: boolean;
  /** --entrypoint: the command, before the arguments (an image's Entrypoint and Cmd give way). */
  entrypoint?: string;
  readOnly: boolean;
  volumes: readonly string[];
  tmpfs: readonly string[];
  env: readonly string[];
  workdir?: string;
  hostname?: string;
  domainname?: string;
  monotonic?: number;
  boottime?: number;
  setuid?: number;
  setgid?: number;
  groups: readonly number[];
  userns?: UserNsOptions;
  resources?: LinuxResources;
  cgroupParent?: string;
  oomScoreAdj?: number;
  capAdd: readonly string[];
  capDrop: readonly string[];
  privileged: boolean;
  rlimits: readonly Rlimit[];
  noNewPrivileges: boolean;
  /** --security-opt seccomp=: none, or a profile file's contents (else the default profile with a root filesystem). */
  seccomp?: "unconfined" | SeccompProfile;
  /** --security-opt apparmor=: a loaded profile, or "unconfined" (else the default profile with a root filesystem, where the host has AppArmor). */
  apparmor?: string;
  /** --security-opt label=: the payload's SELinux context, and its filesystems' (docker's default: none). */
  selinux?: { process: string; mount?: string };
  /** Namespaced kernel settings (--sysctl). */
  sysctl?: Readonly<Record<string, string>>;
  /** Host device nodes for the container's /dev, with the cgroup access each is allowed. */
  devices?: ReadonlyArray<{ device: LinuxDevice; hostPath: string; access: string }>;
  /** `--image`: the root is an overlay of the image's layers (`rootfs` is where it is mounted), run as its config says. */
  image?: ImageRun;
  /** Existing namespaces to join, by path (`--network ns:PATH`). */
  joinNamespaces?: ReadonlyArray<{ type: NamespaceType; path: string }>;
  /** A network to attach the new network namespace to (`--network bridge|NAME`). */
  network?: NetworkRequest;
}

/** What an image brings to a run: its overlay and its config's process settings (docker's names). */
export interface ImageRun {
  overlay: RootOverlay;
  entrypoint?: readonly string[];
  cmd?: readonly string[];
  env?: readonly string[];
  workdir?: string;
  /** The config's User, already resolved to numbers against the image's /etc/passwd and /etc/group. */
  user?: { uid: number; gid: number };
  /** The config's Volumes: a directory of the container's own, seeded from the image, for each path. */
  volumes?: ReadonlyArray<{ destination: string; source: string }>;
  /** The config's ExposedPorts ("80/tcp"), for --publish-all. */
  exposedPorts?: readonly string[];
}

/**
 * docker's rule for an image's command: the entrypoint, then the run's arguments when
 * any were given, else the image's Cmd. Nothing at all is an error, as in docker.
 */
export function imageArgs(image: ImageRun, args: readonly string[], entrypoint?: string): string[] {
  // docker's --entrypoint replaces the image's and drops its Cmd ("" clears the entrypoint).
  const argv =
    entrypoint !== undefined ? [...(entrypoint ? [entrypoint] : []), ...args] : [...(image.entrypoint ?? []), ...(args.length ? args : (image.cmd ?? []))];
  if (!argv.length) throw new UserError("run: the image has no Entrypoint or Cmd; give a command after the image");
  return argv;
}

export interface HostFacts {
  env: Record<string, string | undefined>;
  cwd: string;
  uid: number;
  gid: number;
  stdinIsTTY: boolean;
  /** The running kernel's release, for profiles' minKernel (default: this machine's). */
  kernel?: string;
  arch?: Arch;
  /** AppArmor is on and its default profile for containers is loaded or can be. */
  apparmor?: boolean;
}

const NS_ORDER: NamespaceType[] = ["user", "pid", "network", "ipc", "uts", "mount", "cgroup", "time"];

export function specFromRun(o: RunRequest, host: HostFacts): Spec {
  const rootfs = o.rootfs;
  const image = o.image;
  const args = image
    ? imageArgs(image, o.args, o.entrypoint)
    : o.entrypoint
      ? [o.entrypoint, ...o.args]
      : o.args.length
        ? [...o.args]
        : [rootfs ? "/bin/sh" : (host.env.SHELL ?? "/bin/sh")];

  const env = rootfs ? containerEnv(o, host) : hostEnvList(host.env);
  // The image's Env over the defaults, the run's -e over both (docker's order).
  if (image?.env) mergeEnv(env, image.env);
  mergeEnv(env, o.env);

  const mounts: Mount[] = [];
  if (rootfs) {
    mounts.push(...rootfsMounts(o.namespaces.has("ipc")));
    if (o.userns) adaptForUserNamespace(mounts, o);
  } else if (o.namespaces.has("pid") && o.namespaces.has("mount")) {
    mounts.push({ destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] });
  }
  for (const v of o.volumes) mounts.push(volumeMount(v));
  for (const t of o.tmpfs) mounts.push(tmpfsMount(t));
  // The image's anonymous volumes, unless the run mounts something there itself (as docker).
  // (node:path only then: loading it costs a plain start about half a millisecond.)
  if (image?.volumes?.length) {
    const taken = new Set(mounts.map((m) => path().posix.normalize(m.destination)));
    for (const v of image.volumes)
      if (!taken.has(v.destination)) mounts.push({ destination: v.destination, type: "bind", source: v.source, options: ["rbind"] });
  }

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: o.tty === true,
      user: {
        uid: o.setuid ?? image?.user?.uid ?? o.userns?.uid ?? (rootfs ? 0 : host.uid),
        gid: o.setgid ?? image?.user?.gid ?? o.userns?.gid ?? (rootfs ? 0 : host.gid),
        ...(o.groups.length ? { additionalGids: [...o.groups] } : {}),
      },
      args,
      env,
      cwd: o.workdir ?? image?.workdir ?? (rootfs ? "/" : host.cwd),
    },
    root: { path: rootfs ?? "/", readonly: o.readOnly, ...(image ? { overlay: image.overlay } : {}) },
    mounts,
    linux: {
      namespaces: NS_ORDER.flatMap((type) => {
        const join = o.joinNamespaces?.find((j) => j.type === type);
        return join ? [{ type, path: join.path }] : o.namespaces.has(type) ? [{ type }] : [];
      }),
    },
  };
  if (o.hostname !== undefined) spec.hostname = o.hostname;
  if (o.domainname !== undefined) spec.domainname = o.domainname;
  if (o.monotonic !== undefined || o.boottime !== undefined) {
    spec.linux!.timeOffsets = {
      ...(o.monotonic !== undefined ? { monotonic: { secs: o.monotonic, nanosecs: 0 } } : {}),
      ...(o.boottime !== undefined ? { boottime: { secs: o.boottime, nanosecs: 0 } } : {}),
    };
  }
  if (o.userns) {
    spec.linux!.uidMappings = o.userns.uidMappings;
    spec.linux!.gidMappings = o.userns.gidMappings;
    spec.annotations = { ...spec.annotations, [SETGROUPS_ANNOTATION]: o.userns.setgroups };
  }
  // OCI has no field for a CNI network: the runtime reads the request from here.
  if (o.network) spec.annotations = { ...spec.annotations, [NETWORK_ANNOTATION]: JSON.stringify(o.network) };
  if (o.resources) spec.linux!.resources = o.resources;
  if (o.sysctl && Object.keys(o.sysctl).length) spec.linux!.sysctl = { ...o.sysctl };
  if (rootfs && o.devices?.length) addDevices(spec, o.devices, o.userns !== undefined);
  if (o.oomScoreAdj !== undefined) spec.process!.oomScoreAdj = o.oomScoreAdj;
  if (o.rlimits.length) spec.process!.rlimits = [...o.rlimits];
  if (o.noNewPrivileges) spec.process!.noNewPrivileges = true;
  if (o.cgroupParent !== undefined) spec.linux!.cgroupsPath = o.cgroupParent;
  // A root filesystem makes a container: docker's defaults apply. On the host tree
  // myuts behaves like unshare, which keeps every capability.
  if (rootfs && !o.privileged) {
    spec.linux!.maskedPaths = [...MASKED_PATHS];
    spec.linux!.readonlyPaths = [...READONLY_PATHS];
  }
  const confined = rootfs && !o.privileged;
  let caps: readonly string[] = CAPABILITIES;
  if (confined || o.capAdd.length || o.capDrop.length) {
    caps = applyCapFlags(confined ? DEFAULT_CAPABILITIES : CAPABILITIES, o.capAdd, o.capDrop);
    spec.process!.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] };
  }
  // As docker: a container's default profile, none for --privileged or the host tree
  // (unshare's form keeps the caller's privileges), a given one in any case.
  const arch = host.arch ?? hostArch();
  if (o.seccomp !== undefined && o.seccomp !== "unconfined") {
    spec.linux!.seccomp = seccompFromProfile(o.seccomp, caps, arch, host.kernel ?? os().release(), "run: --security-opt seccomp");
  } else if (o.seccomp === undefined && confined) {
    const profile = defaultSeccomp(caps, arch);
    const ahead = caps === DEFAULT_CAPABILITIES || sameSet(caps, DEFAULT_CAPABILITIES);
    spec.linux!.seccomp = ahead ? precompiled(profile, arch, defaultFilter(arch)) : profile;
  }
  if (o.apparmor !== undefined && o.apparmor !== "unconfined") spec.process!.apparmorProfile = o.apparmor;
  else if (o.apparmor === undefined && confined && host.apparmor) spec.process!.apparmorProfile = DEFAULT_APPARMOR_PROFILE;
  if (o.selinux) spec.process!.selinuxLabel = o.selinux.process;
  if (o.selinux?.mount && rootfs) spec.linux!.mountLabel = o.selinux.mount;
  return spec;
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));

/**
 * --device: a node in the container's /dev and an allow rule after a deny-all. In a user namespace, where mknod is refused, the host node is bound instead.
 */
function addDevices(spec: Spec, devices: NonNullable<RunRequest["devices"]>, userns: boolean): void {
  // The cgroup code appends runc's standard nodes after these.
  const rules = spec.linux!.resources?.devices?.length ? spec.linux!.resources.devices : [{ allow: false, access: "rwm" }];
  const nodes = [];
  for (const { device, hostPath, access } of devices) {
    if (userns) spec.mounts!.push({ destination: device.path, type: "bind", source: hostPath, options: ["bind"] });
    else nodes.push(device);
    if (device.type !== "p") rules.push({ allow: true, type: device.type === "u" ? "c" : device.type, major: device.major, minor: device.minor, access });
  }
  if (nodes.length) spec.linux!.devices = nodes;
  spec.linux!.resources = { ...spec.linux!.resources, devices: rules };
}

/**
 * Inside a user namespace the kernel refuses what the namespace doesn't own: sysfs
 * without a network namespace of its own, proc without a PID namespace of its own,
 * and a devpts gid that isn't mapped. Bind the host's instead, as rootless runc does.
 */
function adaptForUserNamespace(mounts: Mount[], o: RunRequest): void {
  for (const [i, m] of mounts.entries()) {
    if (m.destination === "/sys" && !o.namespaces.has("network")) {
      mounts[i] = { destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] };
    } else if (m.destination === "/proc" && !o.namespaces.has("pid")) {
      mounts[i] = { destination: "/proc", type: "bind", source: "/proc", options: ["rbind", "nosuid", "noexec", "nodev"] };
    } else if (m.type === "devpts" && !mapsId(o.userns?.gidMappings, 5)) {
      mounts[i] = { ...m, options: (m.options ?? []).filter((x) => !x.startsWith("gid=")) };
    }
  }
}

function containerEnv(o: RunRequest, host: HostFacts): string[] {
  const env = [`PATH=${DEFAULT_PATH}`];
  const uid = o.setuid ?? 0;
  env.push(`HOME=${uid === 0 ? "/root" : "/"}`);
  if (o.hostname) env.push(`HOSTNAME=${o.hostname}`);
  if (host.stdinIsTTY && host.env.TERM) env.push(`TERM=${host.env.TERM}`);
  return env;
}

function hostEnvList(env: Record<string, string | undefined>): string[] {
  return Object.entries(env)
    .filter((kv): kv is [string, string] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
}

/** Later KEY=VAL entries replace earlier ones with the same key. Linear: an --env-file may hold many thousands. */
function mergeEnv(env: string[], extra: readonly string[]): void {
  const at = new Map<string, number>();
  env.forEach((e, i) => {
    const key = e.slice(0, e.indexOf("=") + 1);
    if (!at.has(key)) at.set(key, i);
  });
  for (const e of extra) {
    const key = e.slice(0, e.indexOf("=") + 1);
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, env.length);
      env.push(e);
    } else {
      env[i] = e;
    }
  }
}

function volumeMount(v: string): Mount {
  const parts = v.split(":");
  if (parts.length < 2 || parts.length > 3) throw new UserError(`run: --volume ${v}: expected HOST:CONTAINER[:ro|rw]`);
  if (!parts[0]) throw new UserError(`run: --volume ${v}: empty host path (expected HOST:CONTAINER[:ro|rw])`);
  if (!parts[1]) throw new UserError(`run: --volume ${v}: empty container path (expected HOST:CONTAINER[:ro|rw])`);
  if (parts[2] === "") throw new UserError(`run: --volume ${v}: empty mode (ro or rw)`);
  const [host, dest, modes = "rw"] = parts as [string, string, string?];
  if (!host.startsWith("/")) throw new UserError(`run: --volume ${v}: the host path must be absolute`);
  if (!dest.startsWith("/")) throw new UserError(`run: --volume ${v}: the container path must be absolute`);
  // podman's idmap: the host's owners as the container's user namespace sees them.
  const flags = modes.split(",");
  const bad = flags.find((f) => f !== "ro" && f !== "rw" && f !== "idmap");
  if (bad !== undefined) throw new UserError(`run: --volume ${v}: mode must be ro or rw (and idmap), not ${bad}`);
  const idmap = flags.includes("idmap") ? ["idmap"] : [];
  return { destination: dest, type: "bind", source: host, options: ["rbind", flags.includes("ro") ? "ro" : "rw", "rprivate", ...idmap] };
}

function tmpfsMount(t: string): Mount {
  const i = t.indexOf(":");
  const dest = i === -1 ? t : t.slice(0, i);
  const extra =
    i === -1
      ? []
      : t
          .slice(i + 1)
          .split(",")
          .filter(Boolean);
  if (!dest.startsWith("/")) throw new UserError(`run: --tmpfs ${t}: the path must be absolute`);
  return { destination: dest, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", ...extra] };
}
