import pkg from "../package.json" with { type: "json" };

/** The version, commit and target the build recorded (a source run says so). */
export function versionInfo(): { version: string; commit: string; target: string } {
  return {
    version: typeof MYUTS_VERSION === "string" ? MYUTS_VERSION : pkg.version,
    commit: typeof MYUTS_COMMIT === "string" ? MYUTS_COMMIT : "source",
    target: typeof MYUTS_TARGET === "string" ? MYUTS_TARGET : `linux-${process.arch}`,
  };
}

// Built from the defines in place (not from versionInfo), so the release build folds the
// whole line into the binary, where the release tests look for it.
export function versionLine(): string {
  const version = typeof MYUTS_VERSION === "string" ? MYUTS_VERSION : pkg.version;
  const commit = typeof MYUTS_COMMIT === "string" ? MYUTS_COMMIT : "source";
  const target = typeof MYUTS_TARGET === "string" ? MYUTS_TARGET : `linux-${process.arch}`;
  return `myuts ${version} (commit ${commit}, ${target})`;
}
