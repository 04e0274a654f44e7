// Rootless networking through slirp4netns (Debian's slirp4netns): a user-mode TCP/IP
// stack behind a tap device in the container's own network namespace, as rootless
// podman uses. It runs as the runtime's child for the container's life: it exits when
// its exit descriptor (the runtime's end of its stdin) closes, so a killed runtime
// leaves no slirp4netns behind. Published ports go through its API socket.
import { UserError } from "../util/errors.ts";
import { fs, os, path } from "../util/node.ts";
import type { PortMapping } from "./request.ts";

export const SLIRP_NETWORK = "slirp4netns";
/** Where slirp4netns puts the container (its --configure defaults). */
export const SLIRP_ADDRESS = "10.0.2.100";
/** slirp4netns's DNS forwarder (to the host's resolvers). */
export const SLIRP_DNS = "10.0.2.3";
const READY_TIMEOUT_MS = 10_000;

export function slirpBinary(): string {
  const bin = Bun.which("slirp4netns");
  if (!bin) throw new UserError("--network slirp4netns: slirp4netns is not installed (install the slirp4netns package)");
  return bin;
}

/** Whether the namespace of `pid` has slirp4netns's default route (it is configured). */
function configured(pid: number): boolean {
  try {
    return /^tap0\s+00000000\s/m.test(fs().readFileSync(`/proc/${pid}/net/route`, "utf8"));
  } catch {
    return false;
  }
}

/** The cause in slirp4netns's own words, with the usual fix for an unreadable tun device. */
function failure(stderrText: string): UserError {
  const line = stderrText.trim().split("\n").filter(Boolean).at(-1) ?? "it exited";
  const tun = /\/dev\/net\/tun.*(Permission denied|Operation not permitted)/.test(stderrText)
    ? " (/dev/net/tun is not open to you: distributions ship it mode 0666)"
    : "";
  return new UserError(`--network slirp4netns: ${line}${tun}`);
}

/** Connects to the API socket, which slirp4netns may open only after configuring the namespace. */
async function connectApi(socket: string, handlers: Bun.SocketHandler<undefined>): Promise<Bun.Socket<undefined>> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      return await Bun.connect({ unix: socket, socket: handlers });
    } catch (e) {
      if (Date.now() > deadline) throw new UserError(`--network slirp4netns: its API socket: ${(e as Error).message}`);
      await Bun.sleep(5);
    }
  }
}

/** One request to slirp4netns's API socket; its answer as JSON. */
async function apiCall(socket: string, request: unknown): Promise<Record<string, unknown>> {
  let text = "";
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const conn = await connectApi(socket, {
    data(_s, d) {
      text += Buffer.from(d).toString("utf8");
    },
    close: () => resolve(),
    error: (_s, e) => reject(e),
  });
  conn.write(JSON.stringify(request));
  conn.shutdown();
  await promise;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { error: { desc: text.trim() || "no answer" } };
  }
}

export class Slirp {
  private constructor(
    private readonly proc: Bun.Subprocess<"pipe", "ignore", "pipe">,
    private readonly dir: string | undefined,
  ) {}

  /** Starts slirp4netns for the namespace of `pid`, waits until it is configured, forwards the ports. */
  static async start(pid: number, ports: readonly PortMapping[]): Promise<Slirp> {
    const bin = slirpBinary();
    const dir = ports.length ? fs().mkdtempSync(path().join(os().tmpdir(), "myuts-slirp-")) : undefined;
    const api = dir && path().join(dir, "api.sock");
    const proc = Bun.spawn(
      [bin, "--configure", "--mtu=65520", "--disable-host-loopback", "--exit-fd=0", ...(api ? [`--api-socket=${api}`] : []), String(pid), "tap0"],
      { stdin: "pipe", stdout: "ignore", stderr: "pipe" },
    );
    const slirp = new Slirp(proc, dir);
    try {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (!configured(pid)) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw failure(await new Response(proc.stderr).text());
        if (Date.now() > deadline) throw new UserError("--network slirp4netns: not configured after 10 s");
        await Bun.sleep(2);
      }
      for (const p of ports) {
        const answer = await apiCall(api!, {
          execute: "add_hostfwd",
          arguments: { proto: p.protocol, host_addr: p.hostIP || "0.0.0.0", host_port: p.hostPort, guest_addr: SLIRP_ADDRESS, guest_port: p.containerPort },
        });
        const err = answer.error as { desc?: unknown } | undefined;
        if (err) throw new UserError(`run: --publish ${p.hostPort}/${p.protocol}: slirp4netns: ${String(err.desc ?? JSON.stringify(err))}`);
      }
      // The forwards are in place: nothing more to ask, and no socket file to outlive a killed runtime.
      slirp.removeApiDir();
      return slirp;
    } catch (e) {
      slirp.stop();
      throw e;
    }
  }

  private removeApiDir(): void {
    if (this.dir) fs().rmSync(this.dir, { recursive: true, force: true });
  }

  stop(): void {
    this.proc.kill("SIGKILL");
    this.removeApiDir();
  }
}
