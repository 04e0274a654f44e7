// An image config's User ("uid", "uid:gid", "name", "name:group") as numbers, as
// docker resolves it: names are looked up in the image's own /etc/passwd and
// /etc/group (the topmost layer that has the file), never the host's. A user
// without a group takes the gid of its passwd entry (0 for a bare uid).
import { UserError } from "../util/errors.ts";
import { fs, path } from "../util/node.ts";

/** The file `rel` from the topmost layer holding it as a regular file; lowerdirs top first. Capped, never following links. */
function layerFile(lowerdirs: readonly string[], rel: string): string | undefined {
  for (const dir of lowerdirs) {
    const p = path().join(dir, rel);
    try {
      const st = fs().lstatSync(p);
      if (st.isCharacterDevice()) return undefined; // a whiteout: deleted in this layer
      if (!st.isFile() || st.size > 1 << 20) continue;
      return fs().readFileSync(p, "utf8");
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

function lookup(text: string | undefined, name: string): string[] | undefined {
  for (const line of (text ?? "").split("\n")) {
    const f = line.split(":");
    if (f[0] === name) return f;
  }
  return undefined;
}

const ID = /^\d{1,10}$/;

export function resolveImageUser(lowerdirs: readonly string[], user: string): { uid: number; gid: number } {
  const [u = "", g] = user.split(":", 2);
  const passwd = () => layerFile(lowerdirs, "etc/passwd");
  let uid: number;
  let gid = 0;
  if (ID.test(u)) {
    uid = Number(u);
    const entry = (passwd() ?? "").split("\n").find((l) => l.split(":")[2] === u);
    if (entry && ID.test(entry.split(":")[3] ?? "")) gid = Number(entry.split(":")[3]);
  } else {
    const f = lookup(passwd(), u);
    if (!f || !ID.test(f[2] ?? "") || !ID.test(f[3] ?? "")) throw new UserError(`image user ${JSON.stringify(u)}: not found in the image's /etc/passwd`);
    uid = Number(f[2]);
    gid = Number(f[3]);
  }
  if (g !== undefined && g !== "") {
    if (ID.test(g)) gid = Number(g);
    else {
      const f = lookup(layerFile(lowerdirs, "etc/group"), g);
      if (!f || !ID.test(f[2] ?? "")) throw new UserError(`image group ${JSON.stringify(g)}: not found in the image's /etc/group`);
      gid = Number(f[2]);
    }
  }
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw new UserError(`image user ${JSON.stringify(user)}: id out of range`);
  return { uid, gid };
}
