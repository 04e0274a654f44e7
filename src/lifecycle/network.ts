// A spec that asks for a network (the run.myuts.network annotation). On a CNI network
// the container joins the namespace the runtime makes for it (the registry hooks attach
// it) and sees the generated name files; slirp4netns attaches to the container's own
// namespace once it exists, and ends with the run.
import { nameFileMounts } from "../network/attach.ts";
import { NETWORK_ANNOTATION, parseNetworkRequest, type NetworkRequest } from "../network/request.ts";
import { Slirp, SLIRP_NETWORK, slirpBinary } from "../network/slirp.ts";
import type { ValidSpec } from "../spec/types.ts";
import { UserError } from "../util/errors.ts";
import type { Tracer } from "../util/trace.ts";

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

/** What `run` does for a spec's network. */
export class RunNetwork {
  /** A CNI network's request, for the registry hooks to attach. */
  readonly cni: NetworkRequest | undefined;
  private readonly slirpPorts: NetworkRequest["ports"] | undefined;
  private slirp: Slirp | undefined;

  constructor(
    spec: ValidSpec,
    private readonly t: Tracer,
  ) {
    const req = networkRequest(spec);
    if (req?.network !== SLIRP_NETWORK) {
      this.cni = req;
      return;
    }
    slirpBinary();
    if (req.dns.length || req.dnsSearch.length || req.addHosts.length)
      throw new UserError("run: --dns, --dns-search and --add-host work with bridge networks only (not slirp4netns yet)");
    this.slirpPorts = req.ports;
  }

  /** The launch hook for slirp4netns: the container's namespaces exist, nothing runs in them yet. */
  get cloned(): ((pid: number) => Promise<void>) | undefined {
    const ports = this.slirpPorts;
    if (!ports) return undefined;
    return async (pid) => {
      this.slirp = await this.t.stepAsync("network: slirp4netns", () => Slirp.start(pid, ports));
    };
  }

  stop(): void {
    this.slirp?.stop();
    this.slirp = undefined;
  }
}
