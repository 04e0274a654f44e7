// An image config's User, resolved against the image's own /etc/passwd and /etc/group
// (the topmost layer holding each), never the host's.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveImageUser } from "../../src/image/user.ts";

const base = mkdtempSync(join(tmpdir(), "myuts-user-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function layer(name: string, files: Record<string, string>): string {
  const d = join(base, name);
  mkdirSync(join(d, "etc"), { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, "etc", f), text);
  return d;
}

const bottom = layer("bottom", { passwd: "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n", group: "root:x:0:\nstaff:x:50:\n" });
const top = layer("top", { passwd: "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n" });

describe("image users", () => {
  test("numbers pass through; a uid alone takes its passwd entry's gid", () => {
    expect(resolveImageUser([bottom], "1000")).toEqual({ uid: 1000, gid: 1000 });
    expect(resolveImageUser([bottom], "7:8")).toEqual({ uid: 7, gid: 8 });
    expect(resolveImageUser([bottom], "4242")).toEqual({ uid: 4242, gid: 0 });
  });
  test("names come from the topmost layer's files", () => {
    expect(resolveImageUser([top, bottom], "web")).toEqual({ uid: 33, gid: 33 });
    expect(() => resolveImageUser([top, bottom], "app")).toThrow(/not found in the image's \/etc\/passwd/);
    expect(resolveImageUser([bottom], "app:staff")).toEqual({ uid: 1000, gid: 50 });
    expect(() => resolveImageUser([bottom], "app:nogroup")).toThrow(/\/etc\/group/);
  });
});
