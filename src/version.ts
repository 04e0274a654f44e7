import pkg from "../package.json" with { type: "json" };

export function versionLine(): string {
  const version = typeof MYUTS_VERSION === "string" ? MYUTS_VERSION : pkg.version;
  const commit = typeof MYUTS_COMMIT === "string" ? MYUTS_COMMIT : "source";
  const target = typeof MYUTS_TARGET === "string" ? MYUTS_TARGET : `linux-${process.arch}`;
  return `myuts ${version} (commit ${commit}, ${target})`;
}
