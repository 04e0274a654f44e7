// runc's global options besides --root and --debug, which callers such as containerd
// and podman pass on every call: the log file, its format, and the cgroup manager.
import { fs } from "../util/node.ts";
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { logTo } from "../util/log.ts";
import { absolute } from "../util/paths.ts";

export function applyGlobalFlags(flags: ReadonlyMap<string, string>): void {
  if (flags.has("--systemd-cgroup")) {
    throw new UserError("--systemd-cgroup: not supported: myuts manages cgroupfs itself (configure the caller's cgroup manager as cgroupfs)");
  }
  const rootless = flags.get("--rootless");
  // myuts tells a rootless caller by its ids, as runc's "auto" does; the value is checked, not needed.
  if (rootless !== undefined && !["true", "false", "auto"].includes(rootless)) {
    throw new UserError(`--rootless ${rootless}: expected true, false or auto`);
  }
  const format = flags.get("--log-format") ?? "text";
  if (format !== "text" && format !== "json") throw new UserError(`--log-format ${format}: expected text or json`);
  const file = flags.get("--log");
  if (file === undefined) return;
  if (file === "") throw new UserError("--log: empty path");
  const path = absolute(file);
  // Opened now, so a log that can't be written is this call's error, not a silent loss.
  try {
    fs().closeSync(fs().openSync(path, "a", 0o600));
  } catch (e) {
    throw fsError(`--log ${path}`, e);
  }
  logTo(path, format === "json");
}
