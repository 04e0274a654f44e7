// Resource-limit flags (docker's names and units) → OCI linux.resources.
import type { LinuxResources } from "../spec/types.ts";
import type { FlagDef, Parsed } from "./argv.ts";

export const RESOURCE_FLAGS: readonly FlagDef[] = [];

export interface ResourceOptions {
  resources?: LinuxResources;
  cgroupParent?: string;
}

export function parseResourceFlags(_p: Parsed): ResourceOptions {
  return {};
}
