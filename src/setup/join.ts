// The setup program of `exec`: it enters a running container's namespaces and cgroup,
// then runs the process part as a start does. Apart from the run compiler, so that exec
// loads no mount code.
import type { LinuxSeccomp, NamespaceType, Process } from "../spec/types.ts";
import { AT_FDCWD, openFlags } from "./abi.ts";
import type { SetupFacts } from "./compile.ts";
import { cloneFlagNames, NS_FILE, NS_FLAG } from "./namespaces.ts";
import { compileProcess } from "./process.ts";
import { type Program, ProgramBuilder } from "./program.ts";
import { compileSeccomp } from "./seccomp/bpf.ts";
import { JOIN_ORDER, newSessionKeyring, openCgroup, openTerminal, takeTerminal } from "./steps.ts";

export interface JoinPlan {
  pid: number;
  /** The target's namespaces that differ from the runtime's own. */
  namespaces: ReadonlySet<NamespaceType>;
  process: Process;
  setgroupsDenied: boolean;
  /** Stop after the fork until the runtime has moved the new process into the container's cgroup. */
  barrier?: boolean;
  /** The process outlives the runtime (`exec --detach`): no parent-death signal. */
  detached?: boolean;
  /** A terminal for the process: the runtime's pty slave, by its path in the runtime's /dev/pts. */
  terminal?: string;
  /** The container's seccomp section: an exec'd process is filtered as its init is. */
  seccomp?: LinuxSeccomp;
  /** runc's --preserve-fds. */
  preserveFds?: number;
  /** The container's cgroup v2 directory: the fork goes straight into it (the barrier then finds it there). */
  cgroupDir?: string;
}

/**
 * Enters a running container: opens each of its namespaces (all before the first
 * setns, while /proc is still the host's), joins them, forks when the PID or time
 * namespace only takes children, then runs the process part as `run` does.
 */
export function compileJoin(plan: JoinPlan, facts: SetupFacts): Program {
  const b = new ProgramBuilder();
  const O = openFlags(facts.arch);
  const order = JOIN_ORDER.filter((t) => plan.namespaces.has(t));
  // Before the mount namespace changes what /dev/pts is.
  const tty = plan.terminal ? openTerminal(b, facts.arch, plan.terminal) : undefined;
  const cgroup = openCgroup(b, O, plan.cgroupDir);
  for (const t of order) {
    b.call(
      `exec: open the container's ${t} namespace`,
      "openat",
      [b.imm(AT_FDCWD, "AT_FDCWD"), b.str(`/proc/${plan.pid}/ns/${NS_FILE[t]}`), b.imm(O.RDONLY | O.CLOEXEC, "O_RDONLY|O_CLOEXEC"), b.imm(0)],
      {
        out: b.slot(`ns_${t}`),
      },
    );
  }
  // A fork into the cgroup must come before the cgroup namespace: the kernel lets a process
  // enter only cgroups inside its own namespace, and the init still sits outside the container's.
  const cgroupnsLater = cgroup !== undefined && order.includes("cgroup");
  const joinNs = (t: NamespaceType) =>
    b.call(`exec: join the container's ${t} namespace`, "setns", [b.ref(b.slot(`ns_${t}`)), b.imm(NS_FLAG[t], cloneFlagNames(NS_FLAG[t]))]);
  for (const t of order) if (!(cgroupnsLater && t === "cgroup")) joinNs(t);
  // The process that runs the command must be a child: setns moves only children into a
  // PID or time namespace, and the runtime places a child in the container's cgroup.
  if (plan.namespaces.has("pid") || plan.namespaces.has("time") || plan.barrier) b.fork("exec: fork into the PID namespace", 0, undefined, cgroup);
  if (cgroupnsLater) joinNs("cgroup");
  if (plan.barrier) b.sync("exec: wait to be placed in the container's cgroup");
  if (tty !== undefined) takeTerminal(b, tty);
  newSessionKeyring(b);
  compileProcess(b, {
    process: plan.process,
    setgroupsDenied: plan.setgroupsDenied,
    lastCap: facts.lastCap,
    detached: plan.detached,
    preserveFds: plan.preserveFds,
    arch: facts.arch,
    seccomp: plan.seccomp ? compileSeccomp(plan.seccomp, facts.arch) : undefined,
  });
  return b.build();
}
