// The OCI runtime spec (github.com/opencontainers/runtime-spec, config.md and
// config-linux.md): the one internal model. `myuts run` builds one from flags;
// a bundle's config.json holds one. Only the fields myuts reads are typed.

export type NamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup" | "time";

export interface Namespace {
  type: NamespaceType;
  path?: string;
}

export interface IDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  /** An idmapped mount's mappings (files' ids on disk as containerID, seen as hostID). */
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface Rlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  permitted?: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  capabilities?: Capabilities;
  user: User;
  args: string[];
  env?: string[];
  cwd: string;
  noNewPrivileges?: boolean;
  rlimits?: Rlimit[];
  oomScoreAdj?: number;
  /** The AppArmor profile the payload runs under (it must be loaded; "unconfined" for none). */
  apparmorProfile?: string;
  /** The SELinux context the payload runs in. */
  selinuxLabel?: string;
}

export interface Root {
  path: string;
  readonly?: boolean;
  /**
   * myuts's own, not OCI (a bundle's config.json may not set it): the root is an overlayfs of
   * image layers that the setup program mounts on `path` inside the container's mount namespace,
   * so no mount of it ever exists on the host. `run --image` sets it; the runtime makes the
   * upper, work and root dirs before the start and removes them after (src/image/container-root.ts).
   */
  overlay?: RootOverlay;
}

export interface RootOverlay {
  /** Image layer directories, top first. */
  lowerdir: string[];
  upperdir: string;
  workdir: string;
  /**
   * No overlayfs (podman's "vfs" driver): the runtime copies the layers into `path` before
   * the start, and the setup program binds it like any root filesystem. For a user namespace
   * on a kernel that can't mount an overlay in one (before Linux 5.11), or when asked for.
   */
  copy?: boolean;
}

export interface TimeOffset {
  secs?: number;
  nanosecs?: number;
}

/** config-linux.md "Allowed Device Cgroup": one allow/deny rule. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  /** "a" (all), "c" or "b"; absent means all. */
  type?: string;
  /** Absent or -1 means any. */
  major?: number;
  minor?: number;
  /** Any of "r", "w", "m". */
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  /** Memory plus swap, as in cgroup v1 (-1: unlimited). */
  swap?: number;
  /** v1 only; deprecated by the kernel. */
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface LinuxPids {
  /** 0 or -1: unlimited. */
  limit: number;
}

export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  pageSize: string;
  limit: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: { name: string; priority: number }[];
}

/** config-linux.md "Control groups". */
export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  /** cgroup v2 files written as given ("memory.high": "1G"). */
  unified?: Record<string, string>;
}

/** A device node the runtime creates in the container's /dev. */
export interface LinuxDevice {
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** config-linux.md "Seccomp": one comparison of a system call argument. */
export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface Linux {
  seccomp?: LinuxSeccomp;
  /** The SELinux context of the container's filesystems (tmpfs, devpts, …), as their context= option. */
  mountLabel?: string;
  devices?: LinuxDevice[];
  resources?: LinuxResources;
  namespaces?: Namespace[];
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  timeOffsets?: { monotonic?: TimeOffset; boottime?: TimeOffset };
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  cgroupsPath?: string;
  sysctl?: Record<string, string>;
  /** The execution domain (personality(2)): LINUX, or LINUX32 for a 32-bit uname and address space. */
  personality?: { domain: string; flags?: string[] };
}

/** A program the runtime runs at a point of the container's life, the state on its stdin. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds. */
  timeout?: number;
}

export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export interface Spec {
  ociVersion: string;
  hooks?: Hooks;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  linux?: Linux;
  annotations?: Record<string, string>;
}

export const OCI_VERSION = "1.2.0";

/** OCI has no field for a user namespace's setgroups policy; util-linux's --setgroups lands here. */
export const SETGROUPS_ANNOTATION = "run.myuts.setgroups";

/** A spec that passed validateSpec: what the engine needs is there. */
export type ValidSpec = Spec & {
  process: Process;
  root: Root;
  linux: Linux & { namespaces: Namespace[] };
};
