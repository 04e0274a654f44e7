// `myuts features`: what this runtime applies, in the OCI runtime-spec's features
// format, so a caller can check before it writes a config.json. Everything listed is
// built from the tables the engine itself uses; what it refuses is listed as disabled.
import { CAPABILITIES } from "../spec/capabilities.ts";
import { OCI_VERSION } from "../spec/types.ts";
import { mountOptionNames } from "../setup/mount-options.ts";
import { SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_FILTER_FLAGS, SECCOMP_OPERATORS } from "../setup/seccomp/bpf.ts";
import { UserError } from "../util/errors.ts";
import { stdout } from "../util/output.ts";
import { versionInfo } from "../version.ts";

const NAMESPACES = ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"];

export function features(): Record<string, unknown> {
  const { version, commit } = versionInfo();
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    mountOptions: mountOptionNames(),
    linux: {
      namespaces: NAMESPACES,
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: seccompFeatures(),
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: true } },
    },
    annotations: { "run.myuts.version": version, "run.myuts.commit": commit },
  };
}

function seccompFeatures(): Record<string, unknown> {
  const flags = Object.keys(SECCOMP_FILTER_FLAGS);
  return {
    enabled: true,
    actions: [...SECCOMP_ACTIONS],
    operators: [...SECCOMP_OPERATORS],
    archs: [...SECCOMP_ARCHES],
    knownFlags: flags,
    supportedFlags: flags,
  };
}

export function featuresCli(argv: readonly string[]): number {
  if (argv.length) throw new UserError(`features: unexpected ${argv[0]} (it takes no options)`);
  stdout(`${JSON.stringify(features(), null, 2)}\n`);
  return 0;
}
