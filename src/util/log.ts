// consola, reporting in the one-line form the CLI promises: "myuts: <message>".
import { fs } from "./node.ts";
import { createConsola, type ConsolaReporter } from "consola/core";
import { stderr } from "./output.ts";

/** runc's --log and --log-format: errors and warnings also go, one record a line, to this file. */
let logFile: { path: string; json: boolean } | undefined;
export function logTo(path: string, json: boolean): void {
  logFile = { path, json };
}

function toFile(level: string, msg: string): void {
  if (!logFile) return;
  const time = new Date().toISOString();
  const line = logFile.json ? JSON.stringify({ level, msg, time }) : `time=${JSON.stringify(time)} level=${level} msg=${JSON.stringify(msg)}`;
  try {
    fs().appendFileSync(logFile.path, `${line}\n`, { mode: 0o600 });
  } catch {
    // the message still reaches stderr
  }
}

const reporter: ConsolaReporter = {
  log(obj) {
    const msg = obj.args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
    const prefix = obj.type === "warn" ? "myuts: warning: " : obj.type === "error" || obj.type === "fatal" ? "myuts: " : "";
    stderr(`${prefix}${msg}\n`);
    if (obj.type === "warn") toFile("warning", msg);
    else if (obj.type === "error" || obj.type === "fatal") toFile("error", msg);
  },
};

export const log = createConsola({ reporters: [reporter], level: 3 });
