// Registry credentials in docker's config file ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json), "auths" → registry → base64("user:password"), as docker,
// podman and skopeo read them. The file is read as hostile input (a size cap, no
// symlink) and written whole: a temporary file of mode 0600 renamed over it, other
// keys kept.
import { UserError } from "../util/errors.ts";
import { fsError } from "../util/fs-errors.ts";
import { fs, path } from "../util/node.ts";

const HUB_KEYS = ["https://index.docker.io/v1/", "docker.io", "index.docker.io", "registry-1.docker.io"];

export function credentialsFile(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.DOCKER_CONFIG) return path().join(env.DOCKER_CONFIG, "config.json");
  return env.HOME ? path().join(env.HOME, ".docker", "config.json") : undefined;
}

/** The keys a registry's entry may have in "auths". */
function keysFor(domain: string): string[] {
  return domain === "docker.io" ? HUB_KEYS : [domain, `https://${domain}`, `http://${domain}`];
}

type Config = Record<string, unknown> & { auths?: Record<string, unknown> };

function readConfig(file: string): Config {
  let text: string;
  try {
    const fd = fs().openSync(file, fs().constants.O_RDONLY | fs().constants.O_NOFOLLOW);
    try {
      if (fs().fstatSync(fd).size > 1 << 20) throw new UserError(`${file}: too big`);
      text = fs().readFileSync(fd, "utf8");
    } finally {
      fs().closeSync(fd);
    }
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return {};
    if (e instanceof UserError) throw e;
    throw fsError(file, e, "open");
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Config;
  } catch {
    // reported below
  }
  throw new UserError(`${file}: not a JSON object`);
}

/** "user:password" saved for `domain`, or undefined. */
export function readCredentials(domain: string, file = credentialsFile()): string | undefined {
  if (!file) return undefined;
  let auths: unknown;
  try {
    auths = readConfig(file).auths;
  } catch {
    return undefined; // an unreadable file means anonymous, as without one
  }
  if (typeof auths !== "object" || auths === null) return undefined;
  for (const k of keysFor(domain)) {
    const a = (auths as Record<string, { auth?: unknown } | undefined>)[k]?.auth;
    if (typeof a !== "string" || a.length > 8192) continue;
    const pair = Buffer.from(a, "base64").toString("utf8");
    if (pair.includes(":")) return pair;
  }
  return undefined;
}

function writeConfig(file: string, config: Config): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs().mkdirSync(path().dirname(file), { recursive: true, mode: 0o700 });
    const fd = fs().openSync(tmp, "wx", 0o600);
    try {
      fs().writeSync(fd, `${JSON.stringify(config, null, "\t")}\n`);
      fs().fsyncSync(fd);
    } finally {
      fs().closeSync(fd);
    }
    fs().renameSync(tmp, file);
  } catch (e) {
    fs().rmSync(tmp, { force: true });
    throw fsError(file, e, "write");
  }
}

export function saveCredentials(domain: string, user: string, password: string, file = credentialsFile()): string {
  if (!file) throw new UserError("login: no HOME or DOCKER_CONFIG to keep the credentials in");
  if (user.includes(":") || /[\r\n]/.test(user + password)) throw new UserError("login: a user name can't hold ':' and neither may hold a line break");
  const config = readConfig(file);
  const auths = typeof config.auths === "object" && config.auths !== null ? { ...config.auths } : {};
  for (const k of keysFor(domain)) delete auths[k];
  auths[domain === "docker.io" ? HUB_KEYS[0]! : domain] = { auth: Buffer.from(`${user}:${password}`).toString("base64") };
  writeConfig(file, { ...config, auths });
  return file;
}

/** Removes `domain`'s credentials; whether there were any. */
export function removeCredentials(domain: string, file = credentialsFile()): boolean {
  if (!file) return false;
  const config = readConfig(file);
  if (typeof config.auths !== "object" || config.auths === null) return false;
  const auths = { ...config.auths };
  const had = keysFor(domain).some((k) => k in auths);
  for (const k of keysFor(domain)) delete auths[k];
  if (had) writeConfig(file, { ...config, auths });
  return had;
}
