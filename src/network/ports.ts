// Published ports are held by the runtime for the container's life, as docker's proxy
// and podman's conmon hold them: a second container or a host server asking for the
// same port fails at once with one line, instead of portmap's rules silently taking
// the traffic. The rules, not these sockets, carry the connections (they DNAT first).
import { UserError } from "../util/errors.ts";
import type { PortMapping } from "./request.ts";

export interface PortHold {
  release(): void;
}

const describe = (p: PortMapping) => `${p.hostIP ? `${p.hostIP}:` : ""}${p.hostPort}/${p.protocol}`;

/** Binds every host port; all or none: on a refusal, those already bound are let go. */
export async function holdPorts(ports: readonly PortMapping[]): Promise<PortHold> {
  const held: Array<() => void> = [];
  const release = () => {
    for (const r of held.splice(0)) r();
  };
  try {
    for (const p of ports) {
      const hostname = p.hostIP || "0.0.0.0";
      try {
        if (p.protocol === "tcp") {
          const l = Bun.listen({ hostname, port: p.hostPort, socket: { data() {}, open: (s) => void s.end() } });
          held.push(() => l.stop(true));
        } else {
          const u = await Bun.udpSocket({ hostname, port: p.hostPort });
          held.push(() => u.close());
        }
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === "EADDRINUSE") throw new UserError(`run: --publish ${describe(p)}: the host port is already in use`);
        if (code === "EADDRNOTAVAIL") throw new UserError(`run: --publish ${describe(p)}: ${p.hostIP} is not an address of this host`);
        throw new UserError(`run: --publish ${describe(p)}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return { release };
}
