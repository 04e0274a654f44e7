// Idmapped mounts: the user namespaces that hold their mappings while the init makes
// the mounts (a parked process each, killed once the container's mounts exist).
import { CLONE } from "../../ffi/libc.ts";
import { compilePrelude } from "../setup/compile.ts";
import { compileParked, idmapFds, type IdmappedMount } from "../setup/idmap.ts";
import { hostArch } from "../setup/syscalls.ts";
import type { Spec } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import type { Tracer } from "../util/trace.ts";
import { idmapRequests } from "./idmap.ts";
import { launch, reap } from "./start.ts";
import { writeUserNamespaceMaps } from "./userns.ts";

/** What the prelude and the setup program need, and the namespaces' holders to end. */
export interface PreparedIdmaps {
  mounts: IdmappedMount[];
  byIndex: Map<number, number>;
  release(): void;
}

/** Parks a process in a user namespace for each distinct mapping; the caller releases them. */
export async function prepareIdmappedMounts(spec: Spec, t: Tracer, preserveFds?: number): Promise<PreparedIdmaps | undefined> {
  const requests = idmapRequests(spec);
  if (!requests.length) return undefined;
  if ((process.geteuid?.() ?? 0) !== 0)
    throw new UserError(
      `spec: mount ${requests[0]!.mount.destination}: idmapped mounts need root (the kernel asks for CAP_SYS_ADMIN over the source's filesystem)`,
    );
  const holders = new Map<string, number>();
  const release = () => {
    for (const pid of holders.values()) reap(pid);
    holders.clear();
  };
  const fds = idmapFds(requests.length, preserveFds);
  const mounts: IdmappedMount[] = [];
  const byIndex = new Map<number, number>();
  try {
    for (const [i, r] of requests.entries()) {
      const key = JSON.stringify([r.uid, r.gid]);
      let pid = holders.get(key);
      if (pid === undefined) {
        pid = await t.stepAsync(`a user namespace for the idmapped mount ${r.mount.destination}`, () =>
          launch(
            {
              prelude: compilePrelude(CLONE.NEWUSER, "CLONE_NEWUSER", [], hostArch()),
              program: () => compileParked(),
              describe: "CLONE_NEWUSER",
              userns: true,
            },
            t,
            {
              idMaps: (p) => writeUserNamespaceMaps(p, { uid: { kind: "uid", maps: r.uid }, gid: { kind: "gid", maps: r.gid }, denySetgroups: false }),
              created: () => {},
            },
          ),
        );
        holders.set(key, pid);
      }
      const fd = fds[i]!;
      mounts.push({
        destination: r.mount.destination,
        source: r.mount.source,
        recursiveBind: r.recursiveBind,
        recursiveMap: r.recursiveMap,
        mappingPid: pid,
        fd,
      });
      byIndex.set(r.index, fd);
    }
  } catch (e) {
    release();
    throw e;
  }
  return { mounts, byIndex, release };
}
