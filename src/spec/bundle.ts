// An OCI bundle: a directory holding config.json (the spec) and, usually, the root
// filesystem. config.json is the caller's input and read as untrusted: a regular
// file under a size cap, JSON, an object; validateSpec checks the rest.
import { fsError } from "../util/fs-errors.ts";
import { UserError } from "../util/errors.ts";
import { absolute } from "../util/paths.ts";
import { MiB, readRegularFile, RefusedFile } from "../util/read-file.ts";
import type { Spec } from "./types.ts";

const MAX_CONFIG = 4 * MiB;

export function loadBundle(bundle: string, cwd = process.cwd()): { dir: string; spec: Spec } {
  if (!bundle) throw new UserError("--bundle: an empty path");
  const dir = absolute(bundle, cwd);
  const file = `${dir}/config.json`;
  let text: string;
  try {
    text = readRegularFile(file, MAX_CONFIG).toString("utf8");
  } catch (e) {
    if (e instanceof RefusedFile) throw new UserError(`bundle ${file}: ${e.message}`);
    throw fsError(`bundle ${file}`, e, "open");
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new UserError(`bundle ${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new UserError(`bundle ${file}: not a JSON object`);
  const s = spec as Spec;
  // An image root's overlay is made and removed by `run --image` alone, never asked for by a file.
  if (s.root && typeof s.root === "object" && "overlay" in s.root)
    throw new UserError(`bundle ${file}: root.overlay is not part of the OCI spec (myuts run --image sets it)`);
  // root.path is relative to the bundle (runtime-spec, config.md).
  if (s.root && typeof s.root.path === "string" && s.root.path && !s.root.path.startsWith("/")) s.root = { ...s.root, path: absolute(s.root.path, dir) };
  return { dir, spec: s };
}
