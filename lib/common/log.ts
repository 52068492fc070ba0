// Structured logs: one JSON object per line, one file (or stream) per daemon, level changeable at
// run time (`tp loglevel`, or the manager's TP_LOG_LEVEL). Nothing else in tp writes logs.
//
// Files are rotated by size (issue #15): past LOG_MAX_BYTES the file becomes FILE.1 (FILE.1 becomes
// FILE.2, …, LOG_KEEP files kept) and a new FILE starts. Two processes may share a file (the root
// daemon's guardian and worker): each checks that the path is still the file it writes before
// renaming, so a file the other one rotated is not rotated twice.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** A log file is rotated when it passes this size. */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;
/** Rotated files kept besides the current one (FILE.1 … FILE.LOG_KEEP). */
export const LOG_KEEP = 3;

/** FILE → FILE.1, FILE.1 → FILE.2, …; the oldest is dropped. */
export function rotateFiles(file: string, keep = LOG_KEEP): void {
  rmSync(`${file}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  if (existsSync(file)) renameSync(file, `${file}.1`);
}

/** Rotates `file` now when it is over `maxBytes` (for files other programs append to, e.g. a
 * daemon's captured stdout, rotated before each start). */
export function rotateIfLarge(file: string, maxBytes = LOG_MAX_BYTES, keep = LOG_KEEP): void {
  try {
    if (statSync(file).size > maxBytes) rotateFiles(file, keep);
  } catch {
    // missing: nothing to rotate
  }
}

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
const RANK: Record<Level, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export function isLevel(s: string): s is Level {
  return (LEVELS as readonly string[]).includes(s);
}

export interface Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line (e.g. {component: 'socks'}). */
  child(fields: Record<string, unknown>): Logger;
  level: Level;
}

/** An appending file that rotates past maxBytes. Lines are written synchronously: a daemon that is
 * killed right after logging why still leaves that line, and rotation needs no flush. Logs are
 * per event, never per packet (DESIGN §7), so a write(2) per line costs nothing that matters. */
class RotatingFile {
  #fd: number;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {
    mkdirSync(dirname(file), { recursive: true });
    this.#fd = openSync(file, 'a');
  }

  write(line: string): void {
    const bytes = Buffer.from(line);
    try {
      // The file's own size, not a count of ours: another process may append to it too.
      if (fstatSync(this.#fd).size + bytes.length > this.maxBytes) this.#rotate();
      writeSync(this.#fd, bytes);
    } catch {
      // a full disk must not take the daemon down with it
    }
  }

  #rotate(): void {
    try {
      // Still our file? Another process sharing it may have rotated it already.
      const a = fstatSync(this.#fd);
      const b = existsSync(this.file) ? statSync(this.file) : undefined;
      if (b !== undefined && a.ino === b.ino && a.dev === b.dev) rotateFiles(this.file, this.keep);
      const fd = openSync(this.file, 'a');
      closeSync(this.#fd);
      this.#fd = fd;
    } catch {
      // a failed rename must not stop the logging: keep writing where we are
    }
  }
}

interface Sink {
  level: Level;
  write(line: string): void;
}

function errorFields(v: unknown): unknown {
  if (v instanceof Error) return { message: v.message, name: v.name, ...('code' in v ? { code: (v as { code: unknown }).code } : {}) };
  return v;
}

class JsonLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly base: Record<string, unknown>,
  ) {}

  get level(): Level {
    return this.sink.level;
  }
  set level(l: Level) {
    this.sink.level = l;
  }

  #log(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (RANK[level] < RANK[this.sink.level]) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...this.base };
    if (fields) for (const [k, v] of Object.entries(fields)) line[k] = errorFields(v);
    this.sink.write(JSON.stringify(line) + '\n');
  }

  trace(msg: string, f?: Record<string, unknown>) {
    this.#log('trace', msg, f);
  }
  debug(msg: string, f?: Record<string, unknown>) {
    this.#log('debug', msg, f);
  }
  info(msg: string, f?: Record<string, unknown>) {
    this.#log('info', msg, f);
  }
  warn(msg: string, f?: Record<string, unknown>) {
    this.#log('warn', msg, f);
  }
  error(msg: string, f?: Record<string, unknown>) {
    this.#log('error', msg, f);
  }

  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.sink, { ...this.base, ...fields });
  }
}

/** A logger writing to `file` (created with its directory), or to stderr when file is undefined
 * (in-cluster processes: the kubelet collects container output). */
export function createLogger(opts: {
  file?: string;
  level?: Level;
  fields?: Record<string, unknown>;
  maxBytes?: number;
  keep?: number;
}): Logger {
  let write: (line: string) => void;
  if (opts.file) {
    const f = new RotatingFile(opts.file, opts.maxBytes ?? LOG_MAX_BYTES, opts.keep ?? LOG_KEEP);
    write = (line) => f.write(line);
  } else {
    write = (line) => void process.stderr.write(line);
  }
  const sink: Sink = { level: opts.level ?? 'info', write };
  return new JsonLogger(sink, opts.fields ?? {});
}

/** Discards everything; for tests and library defaults. */
export const silentLogger: Logger = new JsonLogger({ level: 'error', write: () => {} }, {});
