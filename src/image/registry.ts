// A client of the OCI distribution API (distribution-spec, "pull"): manifests and
// blobs by GET, anonymous or with a bearer token from the registry's token service
// (the WWW-Authenticate challenge names it, as Docker Hub's does), HTTPS unless
// --insecure allows plain HTTP. Redirects to blob storage are followed by fetch.
// Every response is hostile: sizes are capped, digests checked before anything
// is kept (the store refuses a blob whose bytes don't hash to its digest).
import { UserError } from "../util/errors.ts";
import { type Digest, sha256, verifyDigest } from "./digest.ts";
import { MAX_JSON, MEDIA } from "./manifest.ts";
import { DEFAULT_DOMAIN, type Reference } from "./reference.ts";

const MANIFEST_TYPES = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(", ");
const RETRIES = 3;

export interface RegistryOptions {
  insecure: boolean;
  /** user:password for a registry asking for Basic auth or for its token service. */
  credentials?: string;
}

/** A parsed `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  const params: Record<string, string> = {};
  for (const p of (m?.[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
  return { scheme: (m?.[1] ?? "").toLowerCase(), params };
}

export class Registry {
  private token: string | undefined;
  private readonly base: string;

  constructor(
    readonly ref: Reference,
    private readonly o: RegistryOptions,
  ) {
    const host = ref.domain === DEFAULT_DOMAIN ? "registry-1.docker.io" : ref.domain;
    this.base = `${o.insecure ? "http" : "https"}://${host}/v2/${ref.path}`;
  }

  private what(): string {
    return `${this.ref.domain}/${this.ref.path}`;
  }

  /** GET with auth and retries (network errors, 5xx and 429 back off and try again). */
  private async get(path: string, accept?: string, range?: number): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let r: Response;
      try {
        r = await this.fetchFollowing(`${this.base}${path}`, accept, range);
      } catch (e) {
        if (attempt < RETRIES) {
          await Bun.sleep(200 * 2 ** attempt);
          continue;
        }
        throw new UserError(
          `registry ${this.ref.domain}: ${e instanceof Error ? e.message : String(e)}${this.o.insecure ? "" : " (a registry on plain HTTP needs --insecure)"}`,
        );
      }
      if (r.status === 401 && attempt === 0) {
        await r.body?.cancel();
        await this.authenticate(r.headers.get("www-authenticate") ?? "");
        continue;
      }
      if ((r.status >= 500 || r.status === 429) && attempt < RETRIES) {
        await r.body?.cancel();
        await Bun.sleep(Math.min(5000, Number(r.headers.get("retry-after") ?? 0) * 1000 || 300 * 2 ** attempt));
        continue;
      }
      if (r.ok) return r;
      await r.body?.cancel();
      if (r.status === 401 || r.status === 403)
        throw new UserError(`${this.what()}: access denied by the registry (HTTP ${r.status}); the image may be private`);
      if (r.status === 404) throw new UserError(`${this.what()}${path.replace(/^\/manifests\//, ":")}: not found in the registry`);
      if (r.status === 429) throw new UserError(`registry ${this.ref.domain}: rate limit reached (HTTP 429); try again later`);
      throw new UserError(`registry ${this.ref.domain}: HTTP ${r.status} for ${path}`);
    }
  }

  /**
   * Follows redirects by hand (blob storage, a CDN): the registry's credentials go to
   * the registry only, never to the host a redirect names.
   */
  private async fetchFollowing(url: string, accept?: string, range?: number): Promise<Response> {
    const extra: Record<string, string> = range ? { range: `bytes=${range}-` } : {};
    let r = await fetch(url, { headers: { ...this.headers(accept), ...extra }, redirect: "manual" });
    for (let hop = 0; r.status >= 300 && r.status < 400 && r.headers.get("location"); hop++) {
      if (hop >= 5) throw new UserError(`registry ${this.ref.domain}: too many redirects`);
      const next = new URL(r.headers.get("location")!, url);
      if (next.protocol !== "https:" && !(this.o.insecure && next.protocol === "http:"))
        throw new UserError(`registry ${this.ref.domain}: redirected to ${next.origin}, not HTTPS`);
      await r.body?.cancel();
      const sameOrigin = next.origin === new URL(url).origin;
      r = await fetch(next, { headers: { ...(sameOrigin ? this.headers(accept) : { "user-agent": "myuts" }), ...extra }, redirect: "manual" });
      url = next.href;
    }
    return r;
  }

  private headers(accept?: string): Record<string, string> {
    const h: Record<string, string> = { "user-agent": "myuts" };
    if (accept) h.accept = accept;
    if (this.token) h.authorization = this.token;
    return h;
  }

  private async authenticate(header: string): Promise<void> {
    const { scheme, params } = parseChallenge(header);
    const basic = this.o.credentials ? `Basic ${Buffer.from(this.o.credentials).toString("base64")}` : undefined;
    if (scheme === "basic") {
      if (!basic) throw new UserError(`registry ${this.ref.domain}: asks for a user name and password`);
      this.token = basic;
      return;
    }
    if (scheme !== "bearer" || !params.realm)
      throw new UserError(`registry ${this.ref.domain}: unsupported authentication ${JSON.stringify(header.slice(0, 100))}`);
    const url = new URL(params.realm);
    if (url.protocol !== "https:" && !(this.o.insecure && url.protocol === "http:"))
      throw new UserError(`registry ${this.ref.domain}: token service ${url.origin} is not HTTPS`);
    if (params.service) url.searchParams.set("service", params.service);
    const scope = params.scope ?? (this.ref.path ? `repository:${this.ref.path}:pull` : undefined);
    if (scope) url.searchParams.set("scope", scope);
    const r = await fetch(url, { headers: basic ? { authorization: basic } : {} });
    if (!r.ok) {
      await r.body?.cancel();
      throw new UserError(`registry ${this.ref.domain}: the token service refused (HTTP ${r.status})`);
    }
    const body = (await readCapped(r, 1 << 20, "token response")) as Uint8Array;
    let doc: { token?: unknown; access_token?: unknown };
    try {
      doc = JSON.parse(new TextDecoder().decode(body)) as typeof doc;
    } catch {
      throw new UserError(`registry ${this.ref.domain}: the token service sent no JSON`);
    }
    const token = typeof doc.token === "string" ? doc.token : typeof doc.access_token === "string" ? doc.access_token : undefined;
    if (!token || /[\r\n]/.test(token)) throw new UserError(`registry ${this.ref.domain}: the token service sent no token`);
    this.token = `Bearer ${token}`;
  }

  /** Checks the credentials against the registry's API root (GET /v2/), as `docker login` does. */
  async ping(): Promise<void> {
    const r = await this.get("");
    await r.body?.cancel();
  }

  /** A manifest or index by tag or digest: its bytes, verified against `want` (a digest reference) or the registry's digest header. */
  async manifest(reference: string, want?: Digest): Promise<{ bytes: Uint8Array; digest: Digest }> {
    const r = await this.get(`/manifests/${reference}`, MANIFEST_TYPES);
    const bytes = await readCapped(r, MAX_JSON, "manifest");
    const digest = sha256(bytes);
    if (want) verifyDigest(want, digest, `${this.what()} manifest`);
    const header = r.headers.get("docker-content-digest");
    if (header?.startsWith("sha256:")) verifyDigest(header as Digest, digest, `${this.what()} manifest`);
    return { bytes, digest };
  }

  /**
   * A blob's bytes as they arrive (the store hashes them on the way in); more than `size`
   * is refused. A download that breaks off resumes where it stopped (an HTTP Range
   * request), up to RETRIES times, when the registry answers with that range.
   */
  async *blob(d: Digest, size: number, progress?: (bytes: number) => void): AsyncIterable<Uint8Array> {
    let n = 0;
    for (let attempt = 0; ; attempt++) {
      const r = await this.get(`/blobs/${d}`, undefined, n);
      if (n && (r.status !== 206 || !r.headers.get("content-range")?.startsWith(`bytes ${n}-`))) {
        await r.body?.cancel();
        throw new UserError(`${this.what()}: blob ${d} broke off after ${n} bytes, and the registry can't resume it`);
      }
      try {
        if (r.body)
          for await (const chunk of r.body) {
            n += chunk.length;
            if (n > size) throw new UserError(`${this.what()}: blob ${d} is bigger than its manifest says (${size} bytes); refusing it`);
            progress?.(n);
            yield chunk;
          }
        if (n === size || attempt >= RETRIES) return;
      } catch (e) {
        if (e instanceof UserError || attempt >= RETRIES) throw e;
      }
      await Bun.sleep(200 * 2 ** attempt);
    }
  }
}

async function readCapped(r: Response, max: number, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  if (r.body)
    for await (const c of r.body) {
      n += c.length;
      if (n > max) throw new UserError(`${what}: more than ${max} bytes; refusing it`);
      chunks.push(c);
    }
  return new Uint8Array(Buffer.concat(chunks));
}
