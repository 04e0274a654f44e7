// Entry point. Each command loads only what it needs: `run` is on every
// container's start path.

async function main(): Promise<number> {
  // Trace times count from Bun's time origin, set a few ms into the process, so Bun's start after it shows too.
  const origin = performance.timeOrigin;
  let argv = process.argv.slice(2);
  // A JS string turns bytes that aren't UTF-8 into U+FFFD: read such arguments again,
  // keeping their bytes (ffi/bytes.ts), so paths and values reach the kernel as given.
  if (argv.some((a) => a.includes("\uFFFD"))) {
    const [{ nulEntries }, { readBytes }] = await Promise.all([import("../ffi/bytes.ts"), import("../ffi/files.ts")]);
    argv = nulEntries(readBytes("/proc/self/cmdline")).slice(-argv.length);
  }
  // Global options before the command, as runc has them (containerd and podman pass
  // --root, --log and --log-format on every call); a --debug after the command is the
  // command's own option (src/cli/debug.ts).
  let debug = false;
  const global = new Map<string, string>();
  const takesValue = new Set(["--root", "--log", "--log-format", "--rootless"]);
  for (;;) {
    const a = argv[0] ?? "";
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (a === "--debug") {
      debug = true;
    } else if (a === "--systemd-cgroup") {
      global.set(a, "true");
    } else if (takesValue.has(name) && (eq > 0 || argv[1] !== undefined)) {
      global.set(name, eq > 0 ? a.slice(eq + 1) : (argv[1] as string));
      if (eq < 0) argv = argv.slice(1);
    } else {
      break;
    }
    argv = argv.slice(1);
  }
  let root = global.get("--root");
  if (root === "") root = undefined;
  if (global.size > (global.has("--root") ? 1 : 0)) {
    try {
      (await import("./cli/global-flags.ts")).applyGlobalFlags(global);
    } catch (e) {
      return (await import("./cli/report.ts")).report(e, debug);
    }
  }
  const rootDir = async () => (root === undefined ? undefined : (await import("./util/paths.ts")).absolute(root));
  const cmd = argv[0];
  try {
    switch (cmd) {
      case "run":
        return await (await import("./cli/run.ts")).runCli(argv.slice(1), origin, root === undefined ? undefined : await rootDir());
      case "create":
      case "start":
      case "state":
      case "kill":
      case "delete":
      case "list":
      case "ps":
      case "pause":
      case "resume":
        return await (await import("./cli/oci.ts")).ociCli(cmd, argv.slice(1), await rootDir(), origin);
      case "inspect":
      case "logs":
      case "stop":
      case "rm":
      case "attach":
      case "cleanup":
        return await (await import("./cli/containers.ts")).containerCli(cmd, argv.slice(1), await rootDir());
      case "exec":
        return await (await import("./cli/exec.ts")).execCli(argv.slice(1), await rootDir(), origin);
      case "spec":
        return await (await import("./cli/run.ts")).specCli(argv.slice(1));
      case "stats":
        return await (await import("./cli/stats.ts")).statsCli(argv.slice(1), await rootDir());
      case "events":
        return await (await import("./cli/stats.ts")).eventsCli(argv.slice(1), await rootDir());
      case "update":
        return await (await import("./cli/stats.ts")).updateCli(argv.slice(1), await rootDir());
      case "network":
        return await (await import("./cli/network.ts")).networkCli(argv.slice(1));
      case "import":
      case "pull":
      case "images":
      case "rmi":
      case "image": {
        const c = await import("./cli/image.ts");
        const fn = { import: c.importCli, pull: c.pullCli, images: c.imagesCli, rmi: c.rmiCli, image: c.imageCli }[cmd];
        return await c.runImageCommand(fn, argv.slice(1));
      }
      case "login":
        return await (await import("./cli/login.ts")).loginCli(argv.slice(1));
      case "logout":
        return (await import("./cli/login.ts")).logoutCli(argv.slice(1));
      case "features":
        return (await import("./cli/features.ts")).featuresCli(argv.slice(1));
      case "version":
        return await (await import("./cli/version.ts")).versionCli(argv.slice(1));
      case "--version":
      case "-V":
        (await import("./util/output.ts")).stdout(`${(await import("./version.ts")).versionLine()}\n`);
        return 0;
    }
    const { usage } = await import("./cli/main.ts");
    if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
      (await import("./util/output.ts")).stdout(`${await usage(argv[1])}\n`);
      return cmd === undefined ? 125 : 0;
    }
    const { UserError } = await import("./util/errors.ts");
    throw new UserError(cmd.startsWith("-") ? `unknown option ${cmd} (see myuts --help)` : `unknown command ${cmd} (see myuts --help)`);
  } catch (e) {
    return (await import("./cli/report.ts")).report(e, debug);
  }
}

// Every line the runtime prints is written synchronously, so nothing waits in a buffer.
main().then(async (code) => (await import("../ffi/libc.ts")).exitNow(code));
// A command still waiting when nothing is left to wake it (a promise no event settles) must
// not end as a success, which is what Bun's empty event loop would make of it.
process.once("beforeExit", () => {
  require("node:fs").writeSync(2, "myuts: internal error: the command stopped before it finished (run it with --debug and report this)\n");
  process.exit(125);
});
