// Who is calling: effective ids, login name, and the subordinate-id files
// (read on demand), for user-namespace mappings.
import { fs } from "../util/node.ts";

export interface UserHost {
  uid: number;
  gid: number;
  name: string;
  subuid: () => string;
  subgid: () => string;
}

/** The real caller: effective ids, login name, and its subordinate-id files (read on demand). */
export function callerIdentity(): UserHost {
  const uid = process.geteuid?.() ?? 0;
  const gid = process.getegid?.() ?? 0;
  let name: string | undefined;
  return {
    uid,
    gid,
    get name() {
      name ??= passwdName(uid) ?? String(uid);
      return name;
    },
    subuid: () => fs().readFileSync("/etc/subuid", "utf8"),
    subgid: () => fs().readFileSync("/etc/subgid", "utf8"),
  };
}

/** The login name /etc/passwd gives the uid: what /etc/subuid lines are keyed by (besides the uid). */
function passwdName(uid: number): string | undefined {
  try {
    for (const line of fs().readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[2] === String(uid) && f[0]) return f[0];
    }
  } catch {
    // no passwd: the uid stands for the name
  }
  return undefined;
}
