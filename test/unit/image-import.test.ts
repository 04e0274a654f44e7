// Import from hostile archives: names that climb out, manifests pointing outside the
// archive, symlinks to host files, blobs that don't match their digests. Each fails
// with one line and leaves no name in the store. Real files in a temporary directory.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importImages } from "../../src/image/import.ts";
import { Store } from "../../src/image/store.ts";
import { dockerSave, ociEntries, tarOf } from "../helpers/image-archive.ts";

const base = mkdtempSync(join(tmpdir(), "myuts-import-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const isRoot = process.getuid?.() === 0;

async function importBytes(archive: Uint8Array): Promise<{ store: Store; run: Promise<unknown> }> {
  const file = join(base, `a${n}.tar`);
  writeFileSync(file, archive);
  const store = Store.open(join(base, `store${n++}`));
  return { store, run: importImages(store, file, undefined, () => {}) };
}

const layer = () => tarOf([{ name: "hello", content: "hi" }]);

describe("hostile archives", () => {
  test("an entry climbing out is refused, and nothing lands outside", async () => {
    const { store, run } = await importBytes(await tarOf([{ name: "../../escaped", content: "x" }]));
    await expect(run).rejects.toThrow(/climbs out/);
    expect(existsSync(join(base, "escaped"))).toBe(false);
    expect(store.readIndex().size).toBe(0);
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
  });
  test("a manifest naming a file outside the archive is refused", async () => {
    const manifest = JSON.stringify([{ Config: "../../../etc/passwd", RepoTags: ["x:1"], Layers: [] }]);
    const { run } = await importBytes(await tarOf([{ name: "manifest.json", content: manifest }]));
    await expect(run).rejects.toThrow(/climbs out/);
  });
  test("a layer that is a symlink to a host file is not followed", async () => {
    const manifest = JSON.stringify([{ Config: "c.json", RepoTags: ["x:1"], Layers: ["l.tar"] }]);
    const { store, run } = await importBytes(
      await tarOf([
        { name: "c.json", content: '{"rootfs":{"type":"layers","diff_ids":[]}}' },
        { name: "l.tar", type: "symlink", linkname: "/etc/passwd" },
        { name: "manifest.json", content: manifest },
      ]),
    );
    await expect(run).rejects.toThrow();
    expect(store.blobs().length).toBeLessThanOrEqual(1);
    expect(store.readIndex().size).toBe(0);
  });
  test("an OCI blob whose bytes don't match its digest is refused", async () => {
    const entries = ociEntries({ layers: [await layer()], name: "x:1" });
    const blob = entries.find((e) => e.name.startsWith("blobs/") && e.content instanceof Uint8Array && e.content[0] !== 0x7b)!;
    blob.content = new TextEncoder().encode("tampered");
    const { store, run } = await importBytes(await tarOf(entries));
    await expect(run).rejects.toThrow(/digest mismatch/);
    expect(store.readIndex().size).toBe(0);
  });
  test("a config whose diff_ids don't match the layers is refused before any name is written", async () => {
    const other = `sha256:${new Bun.CryptoHasher("sha256").update(await tarOf([{ name: "hello", content: "other" }])).digest("hex")}`;
    const { store, run } = await importBytes(await dockerSave({ layers: [await layer()], name: "x:1", diffIds: [other] }));
    await expect(run).rejects.toThrow(/diff_id/);
    expect(store.readIndex().size).toBe(0);
  });
  test("not an archive at all", async () => {
    const { run } = await importBytes(new TextEncoder().encode("hello, not a tar".repeat(64)));
    await expect(run).rejects.toThrow(/not a tar archive|neither/);
  });
  test("a directory with neither format is named as such", async () => {
    const d = join(base, "emptydir");
    mkdirSync(d);
    await expect(importImages(Store.open(join(base, "store-dir")), d, undefined, () => {})).rejects.toThrow(/neither a docker save archive/);
  });
});

describe.skipIf(!isRoot)("imports as root", () => {
  test("docker save: named, layers unpacked, nothing left in tmp/", async () => {
    const { store, run } = await importBytes(await dockerSave({ layers: [await layer()], name: "x:1" }));
    await run;
    expect([...store.readIndex().keys()]).toEqual(["docker.io/library/x:1"]);
    expect(store.layers().length).toBe(1);
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
  });
});
