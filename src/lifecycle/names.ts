// Container names: checked (they become file and cgroup names) and made up when
// none is given. Kept apart from the registry so the start path loads only this.
import { UserError } from "../util/errors.ts";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function checkName(name: string, flag = "--name"): string {
  if (!NAME.test(name))
    throw new UserError(`${flag} ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-' (at most 128, starting with a letter or digit)`);
  return name;
}

/**
 * A default name: the runtime's pid (unique among live containers, which is all a
 * name must be) and the time, in hex. Cheap on the start path, unlike the first
 * use of the system's random generator.
 */
export function randomName(): string {
  return `${process.pid.toString(16)}${(Date.now() % 0x1000000).toString(16).padStart(6, "0")}`;
}
