// What a container's registry entry keeps of its network, and the check of it read back
// from disk (apart from the attachment code, which only a start with a network needs).
import { parseConfList, type ConfList } from "./config.ts";
import { parseNetworkRequest, type PortMapping } from "./request.ts";

/** What the registry entry keeps of a container's network. */
export interface NetworkRecord {
  network: string;
  ifname: string;
  /** The list as ADD used it: DEL must run the same plugins with the same settings. */
  config: ConfList;
  ports: PortMapping[];
  /** planned: nothing exists yet; adding: some plugins' work may; added: ADD succeeded. */
  stage: "planned" | "adding" | "added";
  /** What ADD returned (so far). */
  result?: unknown;
}

export const IFNAME = "eth0";
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A record read back from disk, checked; throws an Error saying what is wrong. */
export function parseNetworkRecord(v: unknown): NetworkRecord {
  if (!isObject(v)) throw new Error("not an object");
  if (v.stage !== "planned" && v.stage !== "adding" && v.stage !== "added") throw new Error("stage is not planned, adding or added");
  if (v.ifname !== IFNAME) throw new Error(`ifname is not ${IFNAME}`);
  const config = parseConfList(v.config);
  if (v.network !== config.name) throw new Error("network does not match its configuration's name");
  if (v.result !== undefined && !isObject(v.result)) throw new Error("result is not an object");
  // Checked as --publish checks them.
  const ports = parseNetworkRequest(JSON.stringify({ network: config.name, ports: v.ports })).ports;
  return { network: config.name, ifname: IFNAME, config, ports, stage: v.stage, ...(v.result !== undefined ? { result: v.result } : {}) };
}
