// The cgroup side of a container's start. The cgroup is planned first (the registry
// records it before anything exists), made while the container is set up, and joined
// at the pre-exec barrier, so no payload instruction runs unlimited.
import type { Spec } from "../spec/types.ts";
import type { Tracer } from "../util/trace.ts";
import { Cgroup, type CgroupPaths, type CgroupPlan } from "./cgroup.ts";
import { formatBytes } from "./units.ts";
import { killedBySigkill } from "../util/wait-status.ts";
import { SIGKILL } from "../../ffi/libc.ts";

export interface ExitExplanation {
  message: string;
  exitCode: number;
}

/** Joins `pid` as a traced step; one born in the cgroup gets `born` noted instead (nothing was written). */
export function joinTraced(cg: Cgroup, pid: number, t: Tracer, step: string, born: string): void {
  if (!t.step(step, () => cg.join(pid))) t.note(born);
}

export class ContainerCgroup {
  readonly plan: CgroupPlan;
  private cg: Cgroup | undefined;

  constructor(
    spec: Spec,
    name: string,
    private readonly t: Tracer,
    private readonly warn: (msg: string) => void,
  ) {
    this.plan = t.step("plan the cgroup", () => Cgroup.plan(spec, name));
  }

  /** Creates the directories and writes the limits; the paths as made. */
  create(): CgroupPaths {
    const cg = this.t.step("create the cgroup and apply its limits", () => Cgroup.fromPlan(this.plan, this.warn));
    this.cg = cg;
    return cg.paths;
  }

  join(pid: number): void {
    if (this.cg) joinTraced(this.cg, pid, this.t, `join the cgroup (pid ${pid})`, "the container's process was born in its cgroup (CLONE_INTO_CGROUP)");
  }

  /** Once created: where the container's first process can be cloned into (cgroup v2). */
  birthDir(): string | undefined {
    return this.cg?.birthDir();
  }

  /** Why the payload died, when the kernel's OOM killer killed it at the container's limit. */
  afterExit(status: number): ExitExplanation | undefined {
    const cg = this.cg;
    if (!cg) return undefined;
    const killed = killedBySigkill(status);
    if (!killed || cg.oomKills() === 0) return undefined;
    const limit = cg.memoryLimit();
    return { message: `the container was killed: out of memory${limit !== undefined ? ` (limit ${formatBytes(limit)})` : ""}`, exitCode: 128 + SIGKILL };
  }

  /** Kills what is left and removes the cgroup; what went wrong, one entry per problem. */
  destroy(): string[] {
    const cg = this.cg;
    return cg ? this.t.step("remove the cgroup", () => cg.destroy()) : [];
  }
}
