// The state registry holds named containers only while their runtime lives.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { isRoot, runMyuts, startMyuts, waitFor } from "../helpers/myuts.ts";
import { createTestRootfs, type TestRootfs } from "../helpers/rootfs.ts";

const STATE = "/run/myuts";
let fs: TestRootfs;
const entry = (name: string) => `${STATE}/${name}.json`;

describe.skipIf(!isRoot)("state registry (needs root)", () => {
  beforeAll(() => (fs = createTestRootfs()));
  afterAll(() => fs?.cleanup());

  test("an unnamed container without limits leaves no entry, even while it runs", async () => {
    const before = existsSync(STATE) ? readdirSync(STATE) : [];
    const p = startMyuts(["run", "--pid", "--rootfs", fs.rootfs, "--", "sleep", "1"]);
    await Bun.sleep(300);
    expect(existsSync(STATE) ? readdirSync(STATE) : []).toEqual(before);
    await p.result();
  });

  test("a named container's entry lives with it, and a SIGKILLed runtime's is swept by the next start", async () => {
    const name = `reg${process.pid}`;
    const p = startMyuts(["run", "--name", name, "--pid", "--rootfs", fs.rootfs, "--", "sleep", "30"]);
    await waitFor(() => existsSync(entry(name)), 5000, "the entry to appear");
    p.kill("SIGKILL");
    await p.result();
    expect(existsSync(entry(name))).toBe(true); // nobody could remove it
    const r = await runMyuts(["run", "--", "true"]);
    expect(r.code).toBe(0);
    expect(existsSync(entry(name))).toBe(false);
  });
});
