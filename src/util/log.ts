// consola, reporting in the one-line form the CLI promises: "myuts: <message>".
import { createConsola, type ConsolaReporter } from "consola/core";
import { stderr } from "./output.ts";

const reporter: ConsolaReporter = {
  log(obj) {
    const msg = obj.args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
    const prefix = obj.type === "warn" ? "myuts: warning: " : obj.type === "error" || obj.type === "fatal" ? "myuts: " : "";
    stderr(`${prefix}${msg}\n`);
  },
};

export const log = createConsola({ reporters: [reporter], level: 3 });
