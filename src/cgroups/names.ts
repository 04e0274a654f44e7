// The name of a container's own cgroup directory: the one place the naming lives.
// Kept apart from cgroup.ts so the start path loads only this.

/** Every cgroup directory myuts creates by default is named so. */
export const LEAF_PREFIX = "myuts-";

export function leafName(name: string): string {
  return `${LEAF_PREFIX}${name}`;
}
