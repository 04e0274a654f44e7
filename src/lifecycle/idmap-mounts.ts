// Idmapped mounts: the user namespaces that hold their mappings while the init makes
// the mounts (a parked process each, killed once the container's mounts exist).
import { CLONE } from "../../ffi/libc.ts";
import { compilePrelude } from "../setup/compile.ts";
import { compileParked, idmapFds, type IdmappedMount } from "../setup/idmap.ts";
import { hostArch } from "../setup/syscalls.ts";
import type { Spec } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import type { Tracer } from "../util/trace.ts";
import { type IdmapRequest, idmapRequests } from "./idmap.ts";
import { launch, reap } from "./start.ts";
import { writeUserNamespaceMaps } from "./userns.ts";

/** What the prelude and the setup program need: each mount with its mapping's holder and its descriptor. */
export interface IdmapPlan {
  mounts: IdmappedMount[];
  byIndex: Map<number, number>;
}

/** The holders to end once the container's mounts exist. */
export interface PreparedIdmaps extends IdmapPlan {
  release(): void;
}

const mappingKey = (r: IdmapRequest) => JSON.stringify([r.uid, r.gid]);

/** The plan for `requests`, given each mapping's holder (a pid, or a placeholder for a dry run). */
export function idmapPlan(requests: readonly IdmapRequest[], holder: (r: IdmapRequest) => number | string, preserveFds?: number): IdmapPlan {
  const fds = idmapFds(requests.length, preserveFds);
  return {
    mounts: requests.map((r, i) => ({
      destination: r.mount.destination,
      source: r.mount.source,
      recursiveBind: r.recursiveBind,
      recursiveMap: r.recursiveMap,
      mappingPid: holder(r),
      fd: fds[i]!,
    })),
    byIndex: new Map(requests.map((r, i) => [r.index, fds[i]!])),
  };
}

/** Parks a process in a user namespace for each distinct mapping (none without idmapped mounts); the caller releases them. */
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
  try {
    for (const r of requests) {
      if (holders.has(mappingKey(r))) continue;
      const pid = await t.stepAsync(`a user namespace for the idmapped mount ${r.mount.destination}`, () =>
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
      holders.set(mappingKey(r), pid);
    }
  } catch (e) {
    release();
    throw e;
  }
  return { ...idmapPlan(requests, (r) => holders.get(mappingKey(r))!, preserveFds), release };
}
