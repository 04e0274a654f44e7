// Where a layer's tar entry may go. Names are relative to the layer's root; a
// leading "/" or "./" is dropped (both occur in real layers), and a ".." part is
// refused outright rather than folded, so no entry, hard link target or whiteout
// can name a place outside its layer. Pure functions, for the unit tests.
import { UserError } from "../util/errors.ts";

export const WHITEOUT = ".wh.";
export const OPAQUE = ".wh..wh..opq";

/** The parts of an entry's name inside its layer ([] for the root itself); throws on "..", NUL or an over-long name. */
export function entryParts(name: string, what = "layer entry"): string[] {
  if (name.length > 65535 || name.includes("\0")) throw new UserError(`${what} ${JSON.stringify(name.slice(0, 200))}: invalid name`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new UserError(`${what} ${JSON.stringify(name.slice(0, 200))}: refused, it climbs out of the layer with ".."`);
  return parts;
}

export type Whiteout = { kind: "opaque"; dir: string[] } | { kind: "file"; path: string[] } | undefined;

/** What a whiteout entry hides: its whole directory's lower content (opaque) or one name; undefined for an ordinary entry. */
export function whiteoutOf(parts: readonly string[], what = "layer entry"): Whiteout {
  const base = parts[parts.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT)) return undefined;
  const dir = parts.slice(0, -1);
  if (base === OPAQUE) return { kind: "opaque", dir };
  const hidden = base.slice(WHITEOUT.length);
  if (!hidden || hidden === "." || hidden === ".." || hidden.startsWith(WHITEOUT))
    throw new UserError(`${what} ${JSON.stringify(parts.join("/"))}: invalid whiteout`);
  return { kind: "file", path: [...dir, hidden] };
}
