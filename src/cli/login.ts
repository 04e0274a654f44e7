// `myuts login` and `myuts logout`: credentials for a registry, checked against it
// before they are kept (docker's config file, src/image/credentials.ts). The password
// comes from stdin (--password-stdin) or -p, never from a prompt.
import { readAll } from "../../ffi/libc.ts";
import { removeCredentials, saveCredentials } from "../image/credentials.ts";
import { DEFAULT_DOMAIN } from "../image/reference.ts";
import { Registry } from "../image/registry.ts";
import { UserError } from "../util/errors.ts";
import { stdout } from "../util/output.ts";

const LOGIN = "myuts login [--insecure] -u USER (--password-stdin | -p PASSWORD) [REGISTRY]";

/** A registry as given ("docker.io" when none): a host with an optional port. */
function registryOf(arg: string | undefined): string {
  const d = (arg ?? DEFAULT_DOMAIN).replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  if (!/^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/.test(d))
    throw new UserError(`registry ${JSON.stringify(arg)}: expected HOST[:PORT]`);
  return d === "index.docker.io" || d === "registry-1.docker.io" ? DEFAULT_DOMAIN : d;
}

export async function loginCli(argv: readonly string[]): Promise<number> {
  let user: string | undefined;
  let password: string | undefined;
  let insecure = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") {
      stdout(`usage: ${LOGIN}\n`);
      return 0;
    }
    if (a === "--insecure") insecure = true;
    else if (a === "-u" || a === "--username") user = argv[++i];
    else if (a === "-p" || a === "--password") password = argv[++i];
    else if (a === "--password-stdin")
      password = readAll(0, 4096)
        .toString("utf8")
        .replace(/\r?\n$/, "");
    else if (a.startsWith("-")) throw new UserError(`login: unknown option ${a} (usage: ${LOGIN})`);
    else rest.push(a);
  }
  if (!user || password === undefined || rest.length > 1) throw new UserError(`usage: ${LOGIN}`);
  const domain = registryOf(rest[0]);
  await new Registry({ domain, path: "" }, { insecure, credentials: `${user}:${password}` }).ping();
  const file = saveCredentials(domain, user, password);
  stdout(`logged in to ${domain} (credentials in ${file})\n`);
  return 0;
}

export function logoutCli(argv: readonly string[]): number {
  const ops = argv.filter((a) => a !== "--");
  if (ops.some((a) => a.startsWith("-")) || ops.length > 1) throw new UserError("usage: myuts logout [REGISTRY]");
  const domain = registryOf(ops[0]);
  stdout(removeCredentials(domain) ? `logged out of ${domain}\n` : `not logged in to ${domain}\n`);
  return 0;
}
