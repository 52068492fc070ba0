// The flags shared by `tp intercept|replace|ingest|wiretap`, parsed into what the daemon takes:
// pure functions with one-sentence errors, so the CLI rejects a bad flag before anything changes.
import { resolve } from 'node:path';
import { compileHeaderPattern, headerPattern, HeaderPatternError, type HttpFilterSpec } from '../common/rpc/engagement.js';
import { HTTP_FILTER_MAX_PATTERN } from '../common/limits.js';
import { CliError } from './output.js';

const PORT_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

function portNumber(s: string, flag: string): number {
  const n = Number(s);
  if (!/^\d{1,5}$/.test(s) || n < 1 || n > 65535)
    throw new CliError('E_FLAG', `${flag} "${s}" is not a port number 1-65535`, 'use --port LOCAL[:REMOTE], e.g. --port 8080:http');
  return n;
}

/** `--port LOCAL[:REMOTE]`: LOCAL a port number, REMOTE a port number or a container port name. */
export function parsePortFlag(v: string): { local: number; remote?: string } {
  const i = v.indexOf(':');
  if (i < 0) return { local: portNumber(v, '--port') };
  const local = portNumber(v.slice(0, i), '--port');
  const remote = v.slice(i + 1);
  if (/^\d+$/.test(remote)) portNumber(remote, '--port');
  else if (!PORT_NAME.test(remote))
    throw new CliError(
      'E_FLAG',
      `--port remote part "${remote}" is neither a port number nor a port name`,
      'use --port LOCAL:REMOTE, e.g. --port 8080:http',
    );
  return { local, remote };
}

/** `--http-header K=V` (repeatable) and `--http-path-prefix P`. `K=~REGEX` makes the value a
 * pattern (anchored, linear-time: compileHeaderPattern); it is checked here so that a bad one is
 * refused before anything changes, and travels as `~REGEX`. */
export function parseFilter(headers: string[] | undefined, pathPrefix: string | undefined): HttpFilterSpec | undefined {
  if (!headers?.length && pathPrefix === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const h of headers ?? []) {
    const i = h.indexOf('=');
    const name = i < 0 ? '' : h.slice(0, i).trim();
    if (i < 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      throw new CliError('E_FLAG', `--http-header "${h}" is not NAME=VALUE`, 'for example --http-header x-dev=alice');
    if (out[name.toLowerCase()] !== undefined) throw new CliError('E_FLAG', `--http-header ${name} is given twice`);
    const value = h.slice(i + 1);
    const pattern = headerPattern(value);
    if (pattern !== undefined) {
      try {
        compileHeaderPattern(pattern, HTTP_FILTER_MAX_PATTERN);
      } catch (e) {
        if (!(e instanceof HeaderPatternError)) throw e;
        throw new CliError(
          'E_FLAG',
          `--http-header ${name}=~${pattern}: ${e.message}`,
          "a pattern must match the whole value, e.g. --http-header 'x-dev=~alice(-.*)?'; for a value that starts with ~, write ~~",
        );
      }
    }
    out[name.toLowerCase()] = value;
  }
  if (pathPrefix !== undefined && !pathPrefix.startsWith('/'))
    throw new CliError('E_FLAG', `--http-path-prefix "${pathPrefix}" must start with /`);
  return { headers: out, ...(pathPrefix ? { pathPrefix } : {}) };
}

/** `--mount DIR|true|false`: false skips; true (the default) picks a directory; DIR is made absolute. */
export function parseMount(v: string | boolean | undefined, cwd = process.cwd()): string | false {
  if (v === undefined || v === true || v === 'true') return '';
  if (v === false || v === 'false') return false;
  return resolve(cwd, v);
}

/** `--timeout SECONDS` for the agents to arrive. */
export function parseTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.replace(/s$/, ''));
  if (!Number.isFinite(n) || n < 1 || n > 3600)
    throw new CliError('E_FLAG', `--timeout "${v}" is not a number of seconds between 1 and 3600`);
  return Math.round(n * 1000);
}
