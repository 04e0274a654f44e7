// A spec that asks for a network (the run.myuts.network annotation): the container
// joins the namespace the runtime makes for it, and sees the generated name files.
import { nameFileMounts } from "../network/attach.ts";
import { NETWORK_ANNOTATION, parseNetworkRequest, type NetworkRequest } from "../network/request.ts";
import type { ValidSpec } from "../spec/types.ts";

export function networkRequest(spec: ValidSpec): NetworkRequest | undefined {
  const json = spec.annotations?.[NETWORK_ANNOTATION];
  return json === undefined ? undefined : parseNetworkRequest(json);
}

/** The spec as the engine runs it: the network namespace by path; /etc/hosts and resolv.conf (from `filesDir`) bound in a root filesystem. */
export function withNetwork(spec: ValidSpec, netns: string, filesDir: string): ValidSpec {
  const namespaces = spec.linux.namespaces.filter((n) => n.type !== "network");
  namespaces.push({ type: "network", path: netns });
  const ownRoot = spec.root.path !== "/" && namespaces.some((n) => n.type === "mount" && !n.path);
  // sysfs may be mounted only by the user namespace that owns the network namespace: the
  // host's, for one the runtime made. In a new user namespace, the host's /sys is bound, as
  // rootless runc does.
  const userns = namespaces.some((n) => n.type === "user" && !n.path);
  const mounts = (spec.mounts ?? []).map((m) =>
    userns && m.destination === "/sys" && m.type === "sysfs"
      ? { destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] }
      : m,
  );
  return {
    ...spec,
    mounts: [...mounts, ...(ownRoot ? nameFileMounts(filesDir) : [])],
    linux: { ...spec.linux, namespaces },
  };
}
