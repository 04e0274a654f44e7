// `logs`: a detached container's log, as its monitor writes it (json-lines with the
// stream and a timestamp, rotated once at a size cap), read back as untrusted input:
// a line that isn't such a record is skipped.
import { fs, path } from "../util/node.ts";
import { detachedDir, LOG_FILE, ROTATED_LOG } from "./detached.ts";

export interface LogRecord {
  time: string;
  stream: "stdout" | "stderr";
  log: string;
}

export interface LogOptions {
  follow: boolean;
  /** Only the last N records (before following). */
  tail?: number;
  since?: Date;
}

function parse(line: string): LogRecord | undefined {
  try {
    const v = JSON.parse(line) as Partial<LogRecord> | null;
    if (!v || typeof v.log !== "string" || typeof v.time !== "string" || (v.stream !== "stdout" && v.stream !== "stderr")) return undefined;
    return { time: v.time, stream: v.stream, log: v.log };
  } catch {
    return undefined;
  }
}

/** Reads a log file from `fd` onwards; keeps a trailing partial line for the next read. */
class LogReader {
  private rest = "";
  private readonly decoder = new TextDecoder();
  constructor(readonly fd: number) {}

  read(): LogRecord[] {
    const buf = Buffer.alloc(1 << 16);
    const out: LogRecord[] = [];
    for (;;) {
      const n = fs().readSync(this.fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      const lines = (this.rest + this.decoder.decode(buf.subarray(0, n), { stream: true })).split("\n");
      this.rest = lines.pop() ?? "";
      for (const l of lines) {
        const r = parse(l);
        if (r) out.push(r);
      }
    }
    return out;
  }

  close(): void {
    fs().closeSync(this.fd);
  }
}

function openLog(file: string): { reader: LogReader; ino: number } | undefined {
  try {
    const c = fs().constants;
    const fd = fs().openSync(file, c.O_RDONLY | c.O_NOFOLLOW | c.O_NONBLOCK);
    const st = fs().fstatSync(fd);
    if (!st.isFile()) {
      fs().closeSync(fd);
      return undefined;
    }
    return { reader: new LogReader(fd), ino: st.ino };
  } catch {
    return undefined;
  }
}

/**
 * Writes the container's log through `emit`: the rotated part, then the current one;
 * with `follow`, what comes next until `running` says the container is gone.
 */
export async function readLogs(name: string, o: LogOptions, emit: (r: LogRecord) => void, running: () => boolean): Promise<void> {
  const dir = detachedDir(name);
  const since = o.since?.getTime();
  const keep = (r: LogRecord) => since === undefined || Date.parse(r.time) >= since;
  let records: LogRecord[] = [];
  const old = openLog(path().join(dir, ROTATED_LOG));
  if (old) {
    records = old.reader.read();
    old.reader.close();
  }
  let cur = openLog(path().join(dir, LOG_FILE));
  if (cur) records.push(...cur.reader.read());
  records = records.filter(keep);
  if (o.tail !== undefined) records = o.tail === 0 ? [] : records.slice(-o.tail);
  for (const r of records) emit(r);
  if (!o.follow) {
    cur?.reader.close();
    return;
  }
  for (;;) {
    const live = running();
    await Bun.sleep(live ? 100 : 0);
    for (const r of cur?.reader.read() ?? []) if (keep(r)) emit(r);
    // Rotated: the old file is read to its end above; the new one from its start.
    const now = fs().statSync(path().join(dir, LOG_FILE), { throwIfNoEntry: false });
    if (now && now.ino !== cur?.ino) {
      cur?.reader.close();
      cur = openLog(path().join(dir, LOG_FILE));
      for (const r of cur?.reader.read() ?? []) if (keep(r)) emit(r);
    }
    if (!live) break;
  }
  cur?.reader.close();
}
