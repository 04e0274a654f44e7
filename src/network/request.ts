// What a container asks of the network: which network, which ports, which names.
// `run`'s flags build it; it travels in the spec as one annotation (OCI has no field
// for it) and is read back from a bundle's config.json, so it is checked as hostile.
import { UserError } from "../util/errors.ts";
import { parseIPv4 } from "./cidr.ts";

/** The spec annotation that carries a NetworkRequest as JSON. */
export const NETWORK_ANNOTATION = "run.myuts.network";

/** One --publish, in the form the CNI portmap plugin takes (runtimeConfig.portMappings). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
  /** Empty: every host address. */
  hostIP: string;
}

export interface HostEntry {
  name: string;
  ip: string;
}

export interface NetworkRequest {
  /** The network's name ("bridge": the default one). */
  network: string;
  ports: PortMapping[];
  dns: string[];
  dnsSearch: string[];
  addHosts: HostEntry[];
}

export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}$/;
const HOST_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,252})$/;

const port = (v: string) => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? Number(v) : undefined);

/** --publish [IP:]HOST:CONTAINER[/tcp|udp], as docker's. */
export function parsePublish(v: string): PortMapping {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(v);
  const hostPort = m ? port(m[2]!) : undefined;
  const containerPort = m ? port(m[3]!) : undefined;
  if (!m || hostPort === undefined || containerPort === undefined || (m[1] !== undefined && parseIPv4(m[1]) === undefined))
    throw new UserError(`run: --publish ${v}: expected [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp], ports 1 to 65535`);
  return { hostPort, containerPort, protocol: (m[4] ?? "tcp") as "tcp" | "udp", hostIP: m[1] ?? "" };
}

/** --add-host NAME:IP, as docker's. */
export function parseAddHost(v: string): HostEntry {
  const i = v.indexOf(":");
  const name = v.slice(0, i);
  const ip = v.slice(i + 1);
  if (i <= 0 || !HOST_NAME.test(name) || parseIPv4(ip) === undefined) throw new UserError(`run: --add-host ${v}: expected NAME:IPv4-ADDRESS`);
  return { name, ip };
}

/** --dns ADDRESS. */
export function checkDns(v: string): string {
  if (parseIPv4(v) === undefined) throw new UserError(`run: --dns ${v}: expected an IPv4 address`);
  return v;
}

/** --dns-search DOMAIN. */
export function checkSearch(v: string): string {
  if (!HOST_NAME.test(v)) throw new UserError(`run: --dns-search ${v}: expected a domain name`);
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const stringList = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === "string");

/**
 * The annotation's JSON, each field checked as the flags would have checked it;
 * throws a UserError naming what is wrong.
 */
export function parseNetworkRequest(json: string): NetworkRequest {
  const bad = (what: string) => new UserError(`annotation ${NETWORK_ANNOTATION}: ${what}`);
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw bad("not valid JSON");
  }
  if (!isObject(v)) throw bad("not a JSON object");
  if (typeof v.network !== "string" || !NETWORK_NAME.test(v.network)) throw bad("network is not a network's name");
  const ports = v.ports ?? [];
  if (!Array.isArray(ports) || ports.length > 256) throw bad("ports is not a list");
  const dns = v.dns ?? [];
  const dnsSearch = v.dnsSearch ?? [];
  const addHosts = v.addHosts ?? [];
  if (!stringList(dns) || !stringList(dnsSearch)) throw bad("dns and dnsSearch must be lists of strings");
  if (!Array.isArray(addHosts) || addHosts.length > 256) throw bad("addHosts is not a list");
  try {
    return {
      network: v.network,
      ports: ports.map((p: unknown) => {
        if (!isObject(p)) throw bad("a port mapping is not an object");
        const text = `${p.hostIP ? `${String(p.hostIP)}:` : ""}${String(p.hostPort)}:${String(p.containerPort)}/${String(p.protocol)}`;
        return parsePublish(text);
      }),
      dns: dns.map(checkDns),
      dnsSearch: dnsSearch.map(checkSearch),
      addHosts: addHosts.map((h: unknown) => (isObject(h) ? parseAddHost(`${String(h.name)}:${String(h.ip)}`) : parseAddHost(""))),
    };
  } catch (e) {
    throw e instanceof UserError && !e.message.startsWith("annotation") ? bad(e.message.replace(/^run: /, "")) : e;
  }
}
