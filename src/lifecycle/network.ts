// A spec that asks for a network (the run.myuts.network annotation). On a CNI network
// the container joins the namespace the runtime makes for it (the registry hooks attach
// it) and sees the generated name files; slirp4netns attaches to the container's own
// namespace once it exists, and ends with the run.
import { nameFileMounts } from "../network/name-files.ts";
import { NETWORK_ANNOTATION, parseNetworkRequest, type NetworkRequest } from "../network/request.ts";
import { hostsFile, resolvConf, writeNameFiles } from "../network/name-files.ts";
import { Slirp, SLIRP_ADDRESS, SLIRP_DNS, SLIRP_NETWORK, slirpBinary } from "../network/slirp.ts";
import type { ValidSpec } from "../spec/types.ts";
import { fs, os, path } from "../util/node.ts";
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
  private readonly slirpRequest: NetworkRequest | undefined;
  private slirp: Slirp | undefined;
  private filesDir: string | undefined;

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
    this.slirpRequest = req;
  }

  /** slirp4netns: a helper process that lives as long as this runtime. */
  get userMode(): boolean {
    return this.slirpRequest !== undefined;
  }

  /**
   * With slirp4netns and a root filesystem of its own: the spec with the name files bound
   * in (the address is always slirp4netns's, its DNS forwarder the resolver). They are
   * written now, in a private temporary folder removed once the container has mounted them.
   */
  withNameFiles(spec: ValidSpec, names: readonly string[]): ValidSpec {
    const req = this.slirpRequest;
    const ownRoot = spec.root.path !== "/" && spec.linux.namespaces.some((n) => n.type === "mount" && !n.path);
    if (!req || !ownRoot) return spec;
    this.filesDir = fs().mkdtempSync(path().join(os().tmpdir(), "myuts-names-"));
    const resolv = resolvConf({ ...req, dns: req.dns.length ? req.dns : [SLIRP_DNS] }, "");
    writeNameFiles(this.filesDir, { hosts: hostsFile(req, [SLIRP_ADDRESS], names, false), "resolv.conf": resolv });
    return { ...spec, mounts: [...(spec.mounts ?? []), ...nameFileMounts(this.filesDir)] };
  }

  /** The launch hook for slirp4netns: the container's namespaces exist, nothing runs in them yet. */
  get cloned(): ((pid: number) => Promise<void>) | undefined {
    const ports = this.slirpRequest?.ports;
    if (!ports) return undefined;
    return async (pid) => {
      this.slirp = await this.t.stepAsync("network: slirp4netns", () => Slirp.start(pid, ports));
    };
  }

  /** The payload runs: its mounts hold the name files, whose folder can go. */
  started(): void {
    if (this.filesDir) fs().rmSync(this.filesDir, { recursive: true, force: true });
    this.filesDir = undefined;
  }

  stop(): void {
    this.started();
    this.slirp?.stop();
    this.slirp = undefined;
  }
}
