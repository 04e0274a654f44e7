// The init stage: the re-exec'd binary, running inside the new namespaces before
// the payload. It reads the spec from the parent, builds the container around
// itself and execve()s the payload. On failure it reports one line on the status
// pipe; on success the exec closes that pipe, which tells the parent.
import { CLONE, unshare } from "../../ffi/libc.ts";
import { close, libc, linkUp, readAll, readLine, sethostname, setdomainname, setCloexec, setresgidThread, setresuidThread, umask, writeAll } from "../../ffi/libc.ts";
import { maps as mapsId } from "../spec/idmap.ts";
import { BARRIER_GO, BARRIER_READY, type InitEnvelope, type InitFailure } from "../lifecycle/envelope.ts";
import { deferredCgroupns, newNamespaces } from "../lifecycle/namespaces.ts";
import { EXIT_RUNTIME, UserError } from "../util/errors.ts";
import { jsStart, Tracer } from "../util/trace.ts";
import { inContext } from "./context.ts";
import { execPayload } from "./process.ts";
import { setupMountNamespace } from "./rootfs.ts";

export function initStage(specFd: number, statusFd: number): never {
  let debug = false;
  try {
    if (!Number.isInteger(specFd) || !Number.isInteger(statusFd) || specFd < 3 || statusFd < 3) {
      throw new UserError("init: this stage is started by `myuts run`, not by hand");
    }
    setCloexec(statusFd);
    const env = JSON.parse(readLine(specFd)) as InitEnvelope;
    debug = env.debug;
    setup(env, () => {
      if (!env.barrier) return close(specFd);
      new Tracer(env.trace, env.origin, "init").step("ready; wait for the runtime's go-ahead", () => {
        writeAll(statusFd, Buffer.from(BARRIER_READY));
        const go = readAll(specFd, 1).toString("utf8");
        close(specFd);
        if (go !== BARRIER_GO) throw new UserError("init: the runtime went away before the start");
      });
      // Now inside the container's cgroup: it becomes the namespace's root.
      if (deferredCgroupns(env.spec)) inContext("cgroup namespace", () => unshare(CLONE.NEWCGROUP));
    });
  } catch (e) {
    const failure: InitFailure =
      e instanceof UserError
        ? { message: e.message, code: e.exitCode, stack: e.stack }
        : { message: `init: ${e instanceof Error ? e.message : String(e)}`, code: EXIT_RUNTIME, stack: e instanceof Error ? e.stack : undefined };
    if (!debug) delete failure.stack;
    try {
      writeAll(statusFd, Buffer.from(JSON.stringify(failure)));
    } catch {
      process.stderr.write(`myuts: ${failure.message}\n`);
    }
    process.exit(failure.code);
  }
}

function setup({ spec, trace, origin }: InitEnvelope, barrier: () => void): never {
  const t = new Tracer(trace, origin, "init");
  t.note("init stage: process starts (execve done)", performance.timeOrigin);
  t.note("init stage: JavaScript starts", jsStart);
  libc(); // opened before the root changes
  umask(0);
  const ns = newNamespaces(spec);
  if (ns.size) t.note(`in new namespaces: ${[...ns].join(", ")}`);
  if (ns.has("user")) t.step("become root in the user namespace", () => becomeNamespaceRoot(spec));
  if (spec.hostname !== undefined) t.step(`sethostname ${spec.hostname}`, () => inContext("--hostname", () => sethostname(spec.hostname!)));
  if (spec.domainname !== undefined) t.step(`setdomainname ${spec.domainname}`, () => inContext("--domainname", () => setdomainname(spec.domainname!)));
  if (ns.has("network")) t.step("bring lo up", () => inContext("network: lo", () => linkUp("lo")));
  if (ns.has("mount")) setupMountNamespace(spec, t);
  execPayload(spec.process!, t, spec.root?.path !== "/", barrier);
}

/**
 * The init stage starts with the caller's uid, which a range mapping (--map-users)
 * may leave unmapped, and the kernel refuses to create files for an unmapped owner.
 * Root inside, when mapped, owns what the setup creates, as with runc.
 */
function becomeNamespaceRoot(spec: InitEnvelope["spec"]): void {
  if (!mapsId(spec.linux?.uidMappings, 0) || !mapsId(spec.linux?.gidMappings, 0)) return;
  inContext("user namespace: setresgid 0", () => setresgidThread(0));
  inContext("user namespace: setresuid 0", () => setresuidThread(0));
}
