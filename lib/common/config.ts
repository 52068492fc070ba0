// The user's tp settings: `~/.config/tp/config.yml` (XDG_CONFIG_HOME respected; TP_CONFIG names
// another file). Read by the CLI (flag defaults) and the user daemon (its log level); the root
// daemon gets what concerns it as flags, since sudo passes no environment and root has no
// business reading the user's files. `tp config view` prints what tp reads, defaults filled in.
//
// Every key is optional; an unknown key or a value of the wrong kind is an error naming the key
// and the file (a typo must not be silently ignored), never a half-read config.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { isLevel, LEVELS, type Level } from './log.js';
import { TpError } from './errors.js';

export interface TpConfig {
  /** Where the traffic manager runs (default for --manager-namespace). */
  managerNamespace: string;
  /** Seconds. */
  timeouts: {
    /** `tp connect`: session, port-forward, VIF set-up. */
    connect: number;
    /** `tp intercept|replace|ingest|wiretap`: the traffic agent's arrival (default for --timeout). */
    agentArrival: number;
    /** `tp helm install|upgrade`: the manager becoming ready (default for --timeout). */
    helmInstall: number;
  };
  logLevels: { userDaemon: Level; rootDaemon: Level };
  /** Defaults of `tp connect`'s --dns-include-suffix / --dns-exclude-suffix (flags add to them). */
  dns: { includeSuffixes: string[]; excludeSuffixes: string[] };
  /** Defaults of `tp connect`'s --also-proxy / --never-proxy / --allow-conflicting-subnets. */
  routing: { alsoProxy: string[]; neverProxy: string[]; allowConflictingSubnets: boolean };
  /** Default of `tp connect --mapped-namespaces` (the flag replaces it): names resolve, and
   * workloads are listed, only in these namespaces. Empty: every namespace you may see. */
  mappedNamespaces: string[];
}

export const DEFAULT_CONFIG: TpConfig = {
  managerNamespace: 'tp-system',
  timeouts: { connect: 120, agentArrival: 120, helmInstall: 120 },
  logLevels: { userDaemon: 'info', rootDaemon: 'info' },
  dns: { includeSuffixes: [], excludeSuffixes: [] },
  routing: { alsoProxy: [], neverProxy: [], allowConflictingSubnets: false },
  mappedNamespaces: [],
};

export class ConfigError extends TpError {
  constructor(message: string, hint = 'fix the file (`tp config view` shows what tp reads), or move it aside') {
    super('E_CONFIG', message, { hint });
    this.name = 'ConfigError';
  }
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TP_CONFIG) return env.TP_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'tp', 'config.yml');
}

export interface LoadedConfig {
  config: TpConfig;
  path: string;
  /** false: no file, the defaults. */
  exists: boolean;
}

/** The yaml package, loaded when there is a file to parse: most users have none, and every
 * command that reads the settings (connect, intercept, leave…) paid ~30 ms of CPU for it (#14). */
function parseYaml(text: string): unknown {
  return (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
}

/** Reads and checks the file; no file is the defaults. Throws ConfigError. */
export function loadConfig(path = configPath()): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { config: structuredClone(DEFAULT_CONFIG), path, exists: false };
    throw new ConfigError(`cannot read the config file ${path}: ${(err as Error).message}`);
  }
  return { config: parseConfig(text, path), path, exists: true };
}

/** The config in `text` over the defaults. `where` names the file in errors. */
export function parseConfig(text: string, where: string): TpConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`the config file ${where} is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out = structuredClone(DEFAULT_CONFIG);
  if (doc === null || doc === undefined) return out;
  const top = section(doc, '', where);
  for (const [k, v] of Object.entries(top)) {
    switch (k) {
      case 'managerNamespace':
        out.managerNamespace = dnsLabel(v, k, where);
        break;
      case 'timeouts':
        for (const [tk, tv] of Object.entries(section(v, k, where))) {
          if (!(tk in out.timeouts))
            throw unknownKey(
              `${k}.${tk}`,
              Object.keys(out.timeouts).map((x) => `${k}.${x}`),
              where,
            );
          out.timeouts[tk as keyof TpConfig['timeouts']] = seconds(tv, `${k}.${tk}`, where);
        }
        break;
      case 'logLevels':
        for (const [lk, lv] of Object.entries(section(v, k, where))) {
          if (!(lk in out.logLevels))
            throw unknownKey(
              `${k}.${lk}`,
              Object.keys(out.logLevels).map((x) => `${k}.${x}`),
              where,
            );
          if (typeof lv !== 'string' || !isLevel(lv))
            throw new ConfigError(`${where}: ${k}.${lk} "${String(lv)}" is not a log level (${LEVELS.join(', ')})`);
          out.logLevels[lk as keyof TpConfig['logLevels']] = lv;
        }
        break;
      case 'dns':
        for (const [dk, dv] of Object.entries(section(v, k, where))) {
          if (!(dk in out.dns))
            throw unknownKey(
              `${k}.${dk}`,
              Object.keys(out.dns).map((x) => `${k}.${x}`),
              where,
            );
          out.dns[dk as keyof TpConfig['dns']] = strings(dv, `${k}.${dk}`, where);
        }
        break;
      case 'routing':
        for (const [rk, rv] of Object.entries(section(v, k, where))) {
          if (rk === 'allowConflictingSubnets') {
            if (typeof rv !== 'boolean') throw new ConfigError(`${where}: ${k}.${rk} must be true or false`);
            out.routing.allowConflictingSubnets = rv;
          } else if (rk === 'alsoProxy' || rk === 'neverProxy') {
            out.routing[rk] = strings(rv, `${k}.${rk}`, where).map((c) => cidr(c, `${k}.${rk}`, where));
          } else {
            throw unknownKey(
              `${k}.${rk}`,
              Object.keys(out.routing).map((x) => `${k}.${x}`),
              where,
            );
          }
        }
        break;
      case 'mappedNamespaces':
        out.mappedNamespaces = [...new Set(strings(v, k, where).map((n) => dnsLabel(n, k, where)))];
        break;
      default:
        throw unknownKey(k, Object.keys(DEFAULT_CONFIG), where);
    }
  }
  return out;
}

function section(v: unknown, key: string, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ConfigError(key ? `${where}: ${key} must be a map of settings` : `the config file ${where} must be a map of settings`);
  }
  return v as Record<string, unknown>;
}

function unknownKey(key: string, known: string[], where: string): ConfigError {
  return new ConfigError(`${where}: there is no setting ${key} (known: ${known.join(', ')})`);
}

/** 90, "90", "90s", "2m", "1h". */
export function seconds(v: unknown, key: string, where: string): number {
  const m =
    typeof v === 'number' ? [String(v), String(v), 's'] : typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(s|m|h)?$/.exec(v.trim()) : null;
  const n = m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'] : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > 86_400)
    throw new ConfigError(`${where}: ${key} "${String(v)}" is not a duration (seconds, or like 30s, 2m)`);
  return n;
}

function strings(v: unknown, key: string, where: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError(`${where}: ${key} must be a list of strings`);
  return v as string[];
}

function dnsLabel(v: unknown, key: string, where: string): string {
  if (typeof v !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v))
    throw new ConfigError(`${where}: ${key} "${String(v)}" is not a namespace name`);
  return v;
}

function cidr(v: string, key: string, where: string): string {
  if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(v)) throw new ConfigError(`${where}: ${key} "${v}" is not a CIDR like 10.0.0.0/8`);
  return v;
}
