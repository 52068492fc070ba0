// Structured logs: one JSON object per line, one file (or stream) per daemon, level changeable at
// run time (`tp loglevel`, or the manager's TP_LOG_LEVEL). Nothing else in tp writes logs.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

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

  trace(msg: string, f?: Record<string, unknown>) { this.#log('trace', msg, f); }
  debug(msg: string, f?: Record<string, unknown>) { this.#log('debug', msg, f); }
  info(msg: string, f?: Record<string, unknown>) { this.#log('info', msg, f); }
  warn(msg: string, f?: Record<string, unknown>) { this.#log('warn', msg, f); }
  error(msg: string, f?: Record<string, unknown>) { this.#log('error', msg, f); }

  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.sink, { ...this.base, ...fields });
  }
}

/** A logger writing to `file` (created with its directory), or to stderr when file is undefined
 * (in-cluster processes: the kubelet collects container output). */
export function createLogger(opts: { file?: string; level?: Level; fields?: Record<string, unknown> }): Logger {
  let out: WriteStream | NodeJS.WriteStream;
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true });
    out = createWriteStream(opts.file, { flags: 'a' });
  } else {
    out = process.stderr;
  }
  const sink: Sink = { level: opts.level ?? 'info', write: (line) => void out.write(line) };
  return new JsonLogger(sink, opts.fields ?? {});
}

/** Discards everything; for tests and library defaults. */
export const silentLogger: Logger = new JsonLogger({ level: 'error', write: () => {} }, {});
