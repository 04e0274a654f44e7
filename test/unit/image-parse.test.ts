// Image references, digests, manifests and configs: the pure parsing of hostile input.
import { describe, expect, test } from "bun:test";
import { parseDigest, sha256 } from "../../src/image/digest.ts";
import { entryParts, whiteoutOf } from "../../src/image/entry-path.ts";
import { parseImageConfig, parseManifest, selectPlatform } from "../../src/image/manifest.ts";
import { familiarName, formatReference, parseReference } from "../../src/image/reference.ts";
import { imageArgs } from "../../src/spec/from-run.ts";
import { progressLine } from "../../src/cli/pull-progress.ts";

const D = `sha256:${"a".repeat(64)}` as const;

describe("references", () => {
  test("docker's normalisation", () => {
    expect(formatReference(parseReference("busybox"))).toBe("docker.io/library/busybox:latest");
    expect(formatReference(parseReference("org/app:1.2"))).toBe("docker.io/org/app:1.2");
    expect(formatReference(parseReference("localhost:5000/x/y:z"))).toBe("localhost:5000/x/y:z");
    expect(formatReference(parseReference(`ghcr.io/o/a@${D}`))).toBe(`ghcr.io/o/a@${D}`);
    expect(familiarName("docker.io/library/busybox:latest")).toBe("busybox:latest");
  });
  test("malformed ones are refused", () => {
    for (const bad of ["", "UPPER", "a/../b", "x@sha256:12", "x:bad tag", "a//b"]) expect(() => parseReference(bad)).toThrow();
  });
});

describe("digests and entry names", () => {
  test("only sha256 in canonical form", () => {
    expect(parseDigest(D, "x")).toBe(D);
    expect(() => parseDigest("sha256:../../etc", "x")).toThrow(/not a sha256 digest/);
    expect(() => parseDigest(`sha512:${"a".repeat(128)}`, "x")).toThrow();
    expect(sha256(new Uint8Array())).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
  test("names are relative to the layer; '..' is refused", () => {
    expect(entryParts("./a/b/")).toEqual(["a", "b"]);
    expect(entryParts("/etc/passwd")).toEqual(["etc", "passwd"]);
    expect(() => entryParts("a/../../etc")).toThrow(/climbs out/);
    expect(() => entryParts("..")).toThrow(/climbs out/);
  });
  test("whiteouts", () => {
    expect(whiteoutOf(["a", ".wh..wh..opq"])).toEqual({ kind: "opaque", dir: ["a"] });
    expect(whiteoutOf(["a", ".wh.b"])).toEqual({ kind: "file", path: ["a", "b"] });
    expect(whiteoutOf(["a", "b"])).toBeUndefined();
    expect(() => whiteoutOf(["a", ".wh.."])).toThrow(/invalid whiteout/);
  });
});

describe("manifests and configs", () => {
  const desc = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: D, size: 3 };
  test("a manifest's fields are checked", () => {
    const m = parseManifest({ schemaVersion: 2, config: { ...desc, mediaType: "application/vnd.oci.image.config.v1+json" }, layers: [desc] }, "m");
    expect(m.layers[0]!.digest).toBe(D);
    expect(() => parseManifest({ schemaVersion: 1, layers: [] }, "m")).toThrow(/schemaVersion/);
    expect(() => parseManifest({ schemaVersion: 2, config: desc, layers: [{ ...desc, digest: "sha256:zz" }] }, "m")).toThrow(/digest/);
    expect(() => parseManifest({ schemaVersion: 2, config: desc, layers: [{ ...desc, mediaType: "application/x-foreign" }] }, "m")).toThrow(/not supported/);
    expect(() => parseManifest({ schemaVersion: 2, config: desc, layers: [{ ...desc, size: -1 }] }, "m")).toThrow(/size/);
  });
  test("configs: docker's fields, diff_ids checked", () => {
    const c = parseImageConfig({ config: { Cmd: ["sh"], Env: ["A=1"], User: "1:2" }, rootfs: { type: "layers", diff_ids: [D] } }, "c");
    expect(c.config).toEqual({ Cmd: ["sh"], Env: ["A=1"], User: "1:2" });
    expect(() => parseImageConfig({ config: { Cmd: "sh" }, rootfs: { type: "layers", diff_ids: [] } }, "c")).toThrow(/Cmd/);
    // ExposedPorts and Volumes: docker's sets, their keys checked.
    const v = parseImageConfig(
      { config: { ExposedPorts: { "80/tcp": {}, "53/udp": {} }, Volumes: { "/var/lib/db": {} } }, rootfs: { type: "layers", diff_ids: [] } },
      "c",
    );
    expect(v.config).toEqual({ ExposedPorts: ["53/udp", "80/tcp"], Volumes: ["/var/lib/db"] });
    expect(() => parseImageConfig({ config: { Volumes: { "relative/x": {} } }, rootfs: { type: "layers", diff_ids: [] } }, "c")).toThrow(
      'c.config.Volumes: "relative/x" is not an absolute path',
    );
    expect(() => parseImageConfig({ config: { ExposedPorts: { "80/icmp": {} } }, rootfs: { type: "layers", diff_ids: [] } }, "c")).toThrow(/not a port/);
    expect(() => parseImageConfig({ rootfs: { type: "layers", diff_ids: ["x"] } }, "c")).toThrow(/diff_ids/);
  });
  test("an index resolves to the host's platform", () => {
    const arch = process.arch === "arm64" ? "arm64" : "amd64";
    const other = { ...desc, digest: `sha256:${"b".repeat(64)}` as const, platform: { os: "linux", architecture: "s390x" } };
    const mine = { ...desc, platform: { os: "linux", architecture: arch } };
    expect(selectPlatform({ manifests: [other, mine] }, "i").digest).toBe(D);
    expect(() => selectPlatform({ manifests: [other] }, "i")).toThrow(/no image for linux/);
  });
  test("docker's command rule: entrypoint, then the run's arguments or else Cmd", () => {
    const overlay = { lowerdir: ["/l"], upperdir: "/u", workdir: "/w" };
    expect(imageArgs({ overlay, entrypoint: ["/e"], cmd: ["c"] }, [])).toEqual(["/e", "c"]);
    expect(imageArgs({ overlay, entrypoint: ["/e"], cmd: ["c"] }, ["x"])).toEqual(["/e", "x"]);
    // --entrypoint: the image's Entrypoint and Cmd give way; "" clears the entrypoint.
    expect(imageArgs({ overlay, entrypoint: ["/e"], cmd: ["c"] }, ["x"], "/other")).toEqual(["/other", "x"]);
    expect(imageArgs({ overlay, entrypoint: ["/e"], cmd: ["c"] }, [], "/other")).toEqual(["/other"]);
    expect(imageArgs({ overlay, entrypoint: ["/e"], cmd: ["c"] }, ["sh"], "")).toEqual(["sh"]);
    expect(imageArgs({ overlay, cmd: ["c"] }, ["x", "y"])).toEqual(["x", "y"]);
    expect(() => imageArgs({ overlay }, [])).toThrow(/no Entrypoint or Cmd/);
  });
});

describe("pull progress", () => {
  test("a layer's line: id, bar, bytes, speed", () => {
    const d = `sha256:${"c".repeat(64)}` as const;
    expect(progressLine({ digest: d, size: 2e6, received: 1e6, started: 0, state: "waiting" }, 1000, 10)).toBe(
      "cccccccccccc  [#####-----]  1.0/2.0 MB  1.0 MB/s",
    );
    expect(progressLine({ digest: d, size: 2e6, received: 2e6, started: 0, state: "done" }, 2000, 4)).toBe("cccccccccccc  [####]  2.0/2.0 MB  1.0 MB/s  done");
    expect(progressLine({ digest: d, size: 5, received: 0, started: 0, state: "present" }, 0)).toBe("cccccccccccc  already present");
  });
});
