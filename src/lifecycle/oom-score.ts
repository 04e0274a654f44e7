import { fsError } from "../util/fs-errors.ts";
import { fs } from "../util/node.ts";

/** The OOM killer's preference for a container's process (OCI process.oomScoreAdj, --oom-score-adj). */
export function setOomScoreAdj(pid: number, value: number): void {
  try {
    fs().writeFileSync(`/proc/${pid}/oom_score_adj`, String(value));
  } catch (e) {
    throw fsError(`--oom-score-adj ${value}: /proc/${pid}/oom_score_adj`, e, "write");
  }
}
