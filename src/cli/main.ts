// The command table: citty renders help from it; main.ts dispatches the hot
// commands (run, init) without loading this module.
import { defineCommand, renderUsage, type ArgsDef, type CommandDef } from "citty";
import { versionLine } from "../version.ts";
import { cittyArgs } from "./argv.ts";
import { EXEC_FLAGS } from "./exec.ts";
import { OCI_FLAGS } from "./oci.ts";
import { RUN_FLAGS } from "./run-flags.ts";
import { NETWORK_FLAGS } from "./network.ts";
import { CONTAINER_FLAGS } from "./containers.ts";
import { EVENTS_FLAGS, STATS_FLAGS, UPDATE_CMD_FLAGS } from "./stats.ts";

const payload: ArgsDef = {
  command: {
    type: "positional",
    required: false,
    description: "the payload, then its arguments, passed on untouched (default: /bin/sh in a root filesystem, else $SHELL)",
  },
};
const container: ArgsDef = { name: { type: "positional", required: true, description: "the container's name (run --name)" } };

/** What each command's USAGE line shows: options and operands, as they must be given. */
const SYNOPSIS: Record<string, string> = {
  myuts: "myuts [--debug] [--root DIR] [--log FILE] [--log-format text|json] COMMAND [options] [operands]",
  run: "myuts run [options] [--] [command [args...]]",
  spec: "myuts spec [-b DIR] [--rootless]  |  myuts spec [run's options] [--] [command [args...]]",
  stats: "myuts stats [--json] NAME",
  events: "myuts events [--stats] [--interval SECONDS] NAME",
  update: "myuts update NAME [options]",
  version: "myuts version",
  network: "myuts network create NAME [--subnet CIDR] | ls | rm NAME...",
  ps: "myuts ps [-a] [-q] [--format table|json]  |  myuts ps [--format table|json] ID [-- PS-OPTIONS] (runc's)",
  inspect: "myuts inspect NAME...",
  logs: "myuts logs [-f] [--tail N] [--since TIME] [-t] NAME",
  stop: "myuts stop [-t SECONDS] [-s SIGNAL] NAME...",
  rm: "myuts rm [-f] NAME...",
  exec: "myuts [--root DIR] exec [options] NAME|ID [--] COMMAND [ARGS...]  |  myuts exec --process FILE ID",
};

const run = defineCommand({
  meta: { name: "run", description: "Run a command in new namespaces" },
  args: { ...cittyArgs(RUN_FLAGS), ...payload },
});
const spec = defineCommand({
  meta: {
    name: "spec",
    description: "As runc spec, write a starting config.json into the bundle (-b, default .); with run's options, print the spec they build",
  },
  args: { ...cittyArgs(RUN_FLAGS), ...payload },
});
const exec = defineCommand({
  meta: {
    name: "exec",
    description: "Run a command in a running container (its namespaces, cgroup, ids and capabilities)",
  },
  args: cittyArgs(EXEC_FLAGS),
});
const oci = (name: string, synopsis: string, description: string) => {
  SYNOPSIS[name] ??= `myuts [--root DIR] ${name} ${synopsis}`;
  return defineCommand({ meta: { name, description }, args: cittyArgs(OCI_FLAGS[name]!) });
};
const create = oci(
  "create",
  "[-b BUNDLE] [--pid-file FILE] ID",
  "Create a container from an OCI bundle and leave it waiting for start (no myuts process stays)",
);
const start = oci("start", "ID", "Let a created container run its process");
const state = oci("state", "ID", "Print a container's OCI state as JSON");
const pause = oci("pause", "ID", "Freeze every process of a running container (its cgroup's freezer)");
const resume = oci("resume", "ID", "Thaw a paused container");
const kill = oci("kill", "[-s SIGNAL] ID|NAME [SIGNAL]", "Send a signal (a name with or without SIG, or a number; default TERM) to a container's process");
const del = oci("delete", "[-f] ID", "Delete a stopped container (--force: kill it first)");
const list = oci("list", "[--format table|json] [-q]", "List the containers under the state root");
const ps = oci(
  "ps",
  "[-a] [--format table|json]  |  ps ID [-- PS-OPTIONS]",
  "List run's containers (-a: stopped detached ones too), or with an id a container's processes (runc ps)",
);
const podman = (name: string, description: string) => defineCommand({ meta: { name, description }, args: cittyArgs(CONTAINER_FLAGS[name]!) });
const inspect = podman("inspect", "Print what is known of containers (state, command, log, cgroup, network) as JSON");
const logs = podman("logs", "Print a detached container's output (stdout and stderr as it wrote them)");
const stop = podman(
  "stop",
  "Stop running containers: the stop signal, then SIGKILL after the timeout (a payload that is PID 1 ignores signals it doesn't handle: use run --init)",
);
const rm = podman("rm", "Remove containers (a running one only with -f, which kills it)");
const stats = defineCommand({
  meta: { name: "stats", description: "Show a running container's memory, CPU and pids usage" },
  args: { ...cittyArgs(STATS_FLAGS), ...container },
});
const events = defineCommand({
  meta: { name: "events", description: "Stream a running container's stats and OOM events, or print them once" },
  args: { ...cittyArgs(EVENTS_FLAGS), ...container },
});
const update = defineCommand({
  meta: { name: "update", description: "Change a running container's limits" },
  args: { ...cittyArgs(UPDATE_CMD_FLAGS), ...container },
});
const network = defineCommand({
  meta: { name: "network", description: "Manage bridge networks (CNI lists in /etc/myuts/net.d): create NAME [--subnet CIDR], ls, rm NAME" },
  args: cittyArgs(NETWORK_FLAGS),
});
const features = defineCommand({
  meta: { name: "features", description: "Print what this runtime supports, in the OCI runtime-spec's features format (JSON)" },
});
const importCmd = defineCommand({
  meta: { name: "import", description: "Import the images of a docker save or oci-archive tarball, or an OCI layout directory: myuts import FILE|DIR [NAME]" },
});
const pull = defineCommand({
  meta: { name: "pull", description: "Pull an image from a registry (Docker Hub by default): myuts pull [--insecure] [--platform OS/ARCH] [-q] REF" },
});
const login = defineCommand({
  meta: {
    name: "login",
    description: "Check and keep credentials for a registry: myuts login [--insecure] -u USER (--password-stdin | -p PASSWORD) [REGISTRY]",
  },
});
const logout = defineCommand({ meta: { name: "logout", description: "Forget a registry's credentials: myuts logout [REGISTRY]" } });
const images = defineCommand({ meta: { name: "images", description: "List the images in the store: myuts images [--format json]" } });
const rmi = defineCommand({ meta: { name: "rmi", description: "Remove image names (a digest or id: every name of it): myuts rmi REF..." } });
const image = defineCommand({ meta: { name: "image", description: "myuts image import|ls|rm|prune (prune: remove what no named image needs)" } });
const version = defineCommand({
  meta: { name: "version", description: "Print the version, commit and target" },
  args: { help: { type: "boolean", alias: "h", description: "show this help" } } as ArgsDef,
});

const SUBCOMMANDS: Record<string, CommandDef> = {
  run,
  import: importCmd,
  pull,
  login,
  logout,
  images,
  rmi,
  image,
  exec,
  ps,
  inspect,
  logs,
  stop,
  rm,
  create,
  start,
  state,
  kill,
  delete: del,
  list,
  pause,
  resume,
  features,
  spec,
  stats,
  events,
  update,
  network,
  version,
};

export const root = defineCommand({
  meta: { name: "myuts", version: versionLine().split(" ")[1], description: "A Linux container runtime" },
  args: {
    debug: { type: "boolean", description: "full traces on errors (also accepted after the command)" },
    root: { type: "string", description: "where OCI containers' state lives (default /run/myuts)" },
    log: { type: "string", description: "also write errors and warnings to this file (as runc's --log)" },
    "log-format": { type: "string", description: "the --log file's format: text or json" },
    version: { type: "boolean", alias: "V", description: "print the version, commit and target" },
  } as ArgsDef,
  subCommands: SUBCOMMANDS,
});

export async function usage(sub?: string): Promise<string> {
  const cmd = sub ? SUBCOMMANDS[sub] : undefined;
  let text = await (cmd ? renderUsage(cmd, root) : renderUsage(root));
  // citty's USAGE line lists no operands ("myuts stats [OPTIONS]"): show the real synopsis.
  const synopsis = SYNOPSIS[cmd ? sub! : "myuts"];
  if (synopsis) text = text.replace(/^((?:\x1b\[[0-9;]*m)*USAGE(?:\x1b\[[0-9;]*m)*) .*$/m, (_, label: string) => `${label} ${synopsis}`);
  // citty colours unconditionally; a pipe or a file gets plain text.
  return process.stdout.isTTY && !process.env.NO_COLOR ? text : text.replace(/\x1b\[[0-9;]*m/g, "");
}
