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

export interface Process {
  terminal?: boolean;
  user: User;
  args: string[];
  env?: string[];
  cwd: string;
  noNewPrivileges?: boolean;
  rlimits?: Rlimit[];
  oomScoreAdj?: number;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface TimeOffset {
  secs?: number;
  nanosecs?: number;
}

/** config-linux.md "Control groups": filled in by the cgroups work. */
export interface LinuxResources {
  [controller: string]: unknown;
}

export interface Linux {
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
}

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  linux?: Linux;
  annotations?: Record<string, string>;
}

export const OCI_VERSION = "1.2.0";
