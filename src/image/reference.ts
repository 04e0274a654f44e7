// Image references as docker reads them: [domain/]path[:tag][@digest]. A name
// without a domain is Docker Hub's (docker.io), one without a path prefix there is
// in "library", and one without a tag or digest is ":latest". The store keeps the
// full form, so "busybox" and "docker.io/library/busybox:latest" are one image.
import { UserError } from "../util/errors.ts";
import { type Digest, isDigest } from "./digest.ts";

export interface Reference {
  /** Registry host (and port): "docker.io", "127.0.0.1:5000". */
  domain: string;
  /** Repository path in the registry: "library/busybox". */
  path: string;
  tag?: string;
  digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;
export const DEFAULT_DOMAIN = "docker.io";

/** Parses `ref`, or throws a UserError saying why it isn't one. */
export function parseReference(ref: string): Reference {
  const bad = (why: string) => new UserError(`image reference ${JSON.stringify(ref.slice(0, 200))}: ${why}`);
  if (!ref || ref.length > 4096) throw bad("empty or too long");
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad("the part after @ is not a sha256 digest");
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`invalid tag ${JSON.stringify(tag)}`);
  }
  const parts = rest.split("/");
  let domain = DEFAULT_DOMAIN;
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    if (!DOMAIN.test(first)) throw bad(`invalid registry ${JSON.stringify(first)}`);
    domain = first;
    parts.shift();
  }
  if (!parts.length || !parts.every((p) => COMPONENT.test(p))) throw bad("repository names are lowercase letters, digits and . _ - separated by /");
  if (domain === "index.docker.io") domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && parts.length === 1) parts.unshift("library");
  if (!tag && !digest) tag = "latest";
  return { domain, path: parts.join("/"), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** "domain/path" */
export function repository(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** The full form the store's index is keyed by: "docker.io/library/busybox:latest", or "…@sha256:…". */
export function formatReference(r: Reference): string {
  return `${repository(r)}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** The short form people type: "busybox:latest" for Docker Hub's library images. */
export function familiarName(full: string): string {
  return full.replace(/^docker\.io\/library\/(?=[^/]+$)/, "").replace(/^docker\.io\/(?=[^/]+\/[^/]+$)/, "");
}
