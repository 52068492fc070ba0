// tp-agent-init's steps: read the config, read the nat table, apply (or check, or remove), verify.
// Each step is one structured log line; a failure is one sentence (also written to the
// container's termination log, where the manager finds it in the pod status) and an exit code.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from '../../common/log.js';
import { AGENT_INIT_CONFIG_ENV, parseConfig, type AgentInitConfig } from './config.js';
import { AgentInitError, EXIT, systemIptables, type Iptables } from './iptables.js';
import { applyPayload, checkState, CHAIN, parseNatSave, removePayload } from './rules.js';

export const USAGE = `usage: tp-agent-init [--config FILE] [--check | --remove]
  Adds the nat REDIRECT rules of an engaged pod (container port -> agent port).
  The config is the JSON of env ${AGENT_INIT_CONFIG_ENV}, or of FILE.
  --check   exit 0 when the rules of the config are in place, 1 when not
  --remove  remove the rules (the config is not needed)`;

export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface RunOptions {
  argv: string[];
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Defaults to the real iptables commands. */
  iptables?: Iptables;
  /** Where Kubernetes reads a failed container's message (`terminationMessagePath`). */
  terminationLog?: string;
  /** Defaults to the service account's namespace file. */
  namespaceFile?: string;
}

type Mode = 'apply' | 'check' | 'remove';

/** A sentence made a clause of another: no final period, lowercase start ("The x" → "the x"). */
function clause(s: string): string {
  const t = s.replace(/\.$/, '');
  return /^[A-Z][a-z]/.test(t) ? t[0]!.toLowerCase() + t.slice(1) : t;
}

/** The first problem as a clause, and how many more there are. */
function firstOf(problems: string[]): string {
  const more = problems.length - 1;
  return clause(problems[0]!) + (more > 0 ? ` (and ${more} more problem${more > 1 ? 's' : ''})` : '');
}

/** The pod's namespace: downward API env first, then the mounted service account. */
export function podNamespace(env: NodeJS.ProcessEnv, file = SERVICE_ACCOUNT_NAMESPACE_FILE): string | undefined {
  if (env['TP_POD_NAMESPACE']) return env['TP_POD_NAMESPACE'];
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function parseCli(argv: string[]): { mode: Mode; configFile?: string } {
  let values: { config?: string; check?: boolean; remove?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        check: { type: 'boolean' },
        remove: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new AgentInitError('E_AGENT_INIT_USAGE', `tp-agent-init was called wrongly: ${clause((err as Error).message)}.`, EXIT.badConfig, {
      hint: USAGE,
    });
  }
  if (values.help) throw new AgentInitError('E_AGENT_INIT_USAGE', 'tp-agent-init prints its usage.', EXIT.ok, { hint: USAGE });
  if (values.check && values.remove)
    throw new AgentInitError('E_AGENT_INIT_USAGE', 'tp-agent-init takes --check or --remove, not both.', EXIT.badConfig, { hint: USAGE });
  const mode: Mode = values.check ? 'check' : values.remove ? 'remove' : 'apply';
  return values.config !== undefined ? { mode, configFile: values.config } : { mode };
}

function loadConfig(configFile: string | undefined, env: NodeJS.ProcessEnv): { config: AgentInitConfig; source: string } {
  let text: string;
  let source: string;
  if (configFile !== undefined) {
    source = `file ${configFile}`;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (err) {
      throw new AgentInitError(
        'E_AGENT_INIT_CONFIG',
        `tp-agent-init cannot read its config file ${configFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`,
        EXIT.badConfig,
        { cause: err },
      );
    }
  } else if (env[AGENT_INIT_CONFIG_ENV] !== undefined) {
    source = `env ${AGENT_INIT_CONFIG_ENV}`;
    text = env[AGENT_INIT_CONFIG_ENV]!;
  } else {
    throw new AgentInitError(
      'E_AGENT_INIT_CONFIG',
      `tp-agent-init has no config: set env ${AGENT_INIT_CONFIG_ENV} or pass --config FILE.`,
      EXIT.badConfig,
    );
  }
  const r = parseConfig(text);
  if (!r.ok) {
    throw new AgentInitError('E_AGENT_INIT_CONFIG', `The agent config from ${source} is invalid: ${firstOf(r.errors)}.`, EXIT.badConfig, {
      details: r.errors,
    });
  }
  return { config: r.config, source };
}

async function steps(opts: RunOptions, namespace: string | undefined): Promise<number> {
  const { log } = opts;
  const cli = parseCli(opts.argv);
  const ipt = opts.iptables ?? systemIptables(namespace);

  if (cli.mode === 'remove') {
    const state = parseNatSave(await ipt.saveNat());
    log.info('read nat table', { step: 'read-state', chainExists: state.chainExists, hooks: state.hooks, rules: state.chainRules.length });
    const payload = removePayload(state);
    if (payload !== undefined) await ipt.restore(payload);
    log.info(payload === undefined ? 'nothing to remove' : 'removed redirect rules', {
      step: 'remove',
      chain: CHAIN,
      hooksRemoved: state.hooks,
    });
    return EXIT.ok;
  }

  const { config, source } = loadConfig(cli.configFile, opts.env);
  log.info('config read', {
    step: 'config',
    source,
    version: config.version,
    ports: config.ports.map((p) => `${p.containerPort}/${p.protocol}->${p.agentPort}`),
  });

  const state = parseNatSave(await ipt.saveNat());
  log.info('read nat table', { step: 'read-state', chainExists: state.chainExists, hooks: state.hooks, rules: state.chainRules.length });

  if (cli.mode === 'check') {
    const problems = checkState(config, state);
    if (problems.length > 0) {
      throw new AgentInitError(
        'E_AGENT_INIT_CHECK',
        `The redirect rules of tp-agent-init are not in place: ${firstOf(problems)}.`,
        EXIT.failed,
        { details: problems },
      );
    }
    log.info('redirect rules in place', { step: 'check', chain: CHAIN, rules: state.chainRules.length });
    return EXIT.ok;
  }

  const payload = applyPayload(config, state);
  await ipt.restore(payload);
  log.info('applied redirect rules', {
    step: 'apply',
    chain: CHAIN,
    rules: config.ports.length,
    hookAdded: state.hooks === 0,
    extraHooksRemoved: Math.max(0, state.hooks - 1),
  });

  // Read back: a payload iptables accepted can still differ from what we meant (another
  // iptables version printing rules differently, a concurrent writer); the agent relies on it.
  const after = parseNatSave(await ipt.saveNat());
  const problems = checkState(config, after);
  if (problems.length > 0) {
    throw new AgentInitError(
      'E_AGENT_INIT_CHECK',
      `The redirect rules were applied but do not read back as written: ${firstOf(problems)}.`,
      EXIT.failed,
      { details: problems },
    );
  }
  log.info('verified redirect rules', { step: 'verify', chain: CHAIN, rules: after.chainRules.length, hooks: after.hooks });
  return EXIT.ok;
}

/** Runs tp-agent-init; returns the exit code. Never throws. */
export async function runAgentInit(opts: RunOptions): Promise<number> {
  const namespace = podNamespace(opts.env, opts.namespaceFile);
  try {
    return await steps(opts, namespace);
  } catch (err) {
    if (err instanceof AgentInitError && err.code === 'E_AGENT_INIT_USAGE' && err.exitCode === EXIT.ok) {
      process.stdout.write(USAGE + '\n');
      return EXIT.ok;
    }
    const e =
      err instanceof AgentInitError
        ? err
        : new AgentInitError(
            'E_AGENT_INIT_IPTABLES',
            `tp-agent-init failed unexpectedly: ${(err as Error)?.message ?? String(err)}.`,
            EXIT.failed,
            { cause: err },
          );
    const fields: Record<string, unknown> = { step: 'error', code: e.code, exitCode: e.exitCode };
    if (e.opts.hint) fields['hint'] = e.opts.hint;
    if (e.opts.details?.length) fields['details'] = e.opts.details;
    if (namespace) fields['namespace'] = namespace;
    opts.log.error(e.message, fields);
    writeTerminationMessage(opts.terminationLog, e.message);
    return e.exitCode;
  }
}

function writeTerminationMessage(path: string | undefined, message: string): void {
  // The kubelet mounts this file only in a pod; elsewhere there is no such file and nothing to do.
  if (!path || !existsSync(path)) return;
  try {
    writeFileSync(path, message + '\n');
  } catch {
    // Read-only or gone: the log line above still carries the sentence.
  }
}
