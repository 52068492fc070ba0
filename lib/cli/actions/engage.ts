// `tp intercept|replace|ingest|wiretap WORKLOAD [flags] [-- CMD]`, `tp leave NAME`,
// `tp uninstall WORKLOAD|--all-agents` (their flags: commands/engage.ts).
import type { Command } from 'commander';
import type { EngageCliResponse } from '../../common/rpc/daemon.js';
import type { EngagementKind } from '../../common/rpc/engagement.js';
import { callDaemon, callDaemonIfRunning } from '../daemon-client.js';
import { formatEnvFile, parseEnvSyntax, writeEnvFile } from '../../user/env-file.js';
import { parseFilter, parseMount, parsePortFlag, parseTimeout } from '../engage-flags.js';
import { CliError, emit, parseOutput } from '../output.js';
import { runCommand } from '../run-command.js';
import { config } from '../settings.js';

const VERB: Record<EngagementKind, string> = {
  intercept: 'Intercepting',
  replace: 'Replacing',
  ingest: 'Ingesting',
  wiretap: 'Wiretapping',
};

async function requireConnected(): Promise<void> {
  if (((await callDaemonIfRunning('status', {}))?.state ?? 'disconnected') === 'disconnected') {
    throw new CliError('E_NOT_CONNECTED', 'tp is not connected to a cluster', 'run `tp connect` first');
  }
}

/** The action of `tp intercept|replace|ingest|wiretap`. */
export function engage(
  kind: EngagementKind,
): (workload: string, command: string[], o: Record<string, unknown>, cmd: Command) => Promise<void> {
  return async (workload, command, o, cmd) => {
    const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
    const syntax = parseEnvSyntax(String(o.envSyntax ?? 'docker'));
    const ports = ((o.port as string[] | undefined) ?? []).map(parsePortFlag);
    const filter =
      kind === 'intercept' ? parseFilter(o.httpHeader as string[] | undefined, o.httpPathPrefix as string | undefined) : undefined;
    const timeoutMs = parseTimeout(o.timeout as string | undefined) ?? config().timeouts.agentArrival * 1000;
    const mount = parseMount(o.mount as string | undefined);
    await requireConnected();
    const name = (o.name as string | undefined) ?? workload;
    const showProgress = process.stderr.isTTY && format === 'default';
    const shown = new Set<string>();
    const poll = showProgress
      ? setInterval(() => {
          void callDaemon('engageProgress', { name }, 2_000).then(
            (p) => {
              for (const m of p.messages) if (!shown.has(m)) (shown.add(m), process.stderr.write(`${m}\n`));
            },
            () => {},
          );
        }, 500)
      : undefined;
    // Ctrl-C while waiting for the agents: take the half-made engagement back before exiting.
    const onInterrupt = () => {
      process.stderr.write(`\ntp: cancelling ${name}\n`);
      void callDaemon('leave', { name }, 10_000)
        .catch(() => {})
        .finally(() => process.exit(130));
    };
    process.once('SIGINT', onInterrupt);
    let r: EngageCliResponse;
    try {
      r = await callDaemon(
        'engage',
        {
          kind,
          workload,
          ports,
          mount,
          ...(o.namespace ? { namespace: String(o.namespace) } : {}),
          ...(o.name ? { name: String(o.name) } : {}),
          ...(o.container ? { container: String(o.container) } : {}),
          ...(o.address ? { address: String(o.address) } : {}),
          ...(filter ? { filter } : {}),
          ...(timeoutMs ? { timeoutMs } : {}),
        },
        (timeoutMs ?? 120_000) + 60_000,
      );
    } finally {
      clearInterval(poll);
      process.off('SIGINT', onInterrupt);
    }
    try {
      if (typeof o.envFile === 'string') {
        const f = formatEnvFile(r.env, syntax);
        for (const w of f.warnings) process.stderr.write(`tp: ${w}\n`);
        await writeEnvFile(o.envFile, f.text);
      }
      if (typeof o.envJson === 'string') await writeEnvFile(o.envJson, formatEnvFile(r.env, 'json').text);
    } catch (err) {
      await callDaemon('leave', { name }).catch(() => {});
      throw err;
    }
    // A mount that failed leaves the engagement in place: the warning says why and what to do.
    // So does TLS already seen on a filtered intercept's port (issue #13, from the manager); TLS
    // seen later shows in `tp list`.
    if (format === 'default') for (const w of r.warnings ?? []) process.stderr.write(`tp: warning: ${w.replace(/\.$/, '')}.\n`);
    const { env: _env, ...shownResult } = r;
    if (command.length === 0) {
      await emit(format, shownResult, () => printEngaged(kind, r, o));
      return;
    }
    if (format === 'default') printEngaged(kind, r, o);
    const code = await runCommand(command, { ...process.env, ...r.env });
    await callDaemon('leave', { name }).catch((err) => process.stderr.write(`tp: leaving ${name} failed: ${(err as Error).message}\n`));
    process.exit(code);
  };
}

function printEngaged(kind: EngagementKind, r: EngageCliResponse, o: Record<string, unknown>): void {
  const e = r.engagement;
  console.log(`${VERB[kind]} ${e.workload.kind.toLowerCase()}/${e.workload.name} (container ${e.container}) as "${e.name}"`);
  const f =
    e.filter && (Object.keys(e.filter.headers).length || e.filter.pathPrefix)
      ? ` for HTTP requests with ${[...Object.entries(e.filter.headers).map(([k, v]) => `${k}: ${v}`), ...(e.filter.pathPrefix ? [`path ${e.filter.pathPrefix}*`] : [])].join(' and ')}`
      : '';
  for (const p of r.forwards)
    console.log(
      `  port ${p.remote}${p.name ? ` (${p.name})` : ''} → ${p.address}:${p.local}${kind === 'wiretap' ? ' (a copy; answers are discarded)' : f}`,
    );
  if (typeof o.envFile === 'string') console.log(`  environment written to ${o.envFile}`);
  if (typeof o.envJson === 'string') console.log(`  environment written to ${o.envJson}`);
  if (r.mountPoint) console.log(`  volumes mounted at ${r.mountPoint}${kind === 'ingest' || kind === 'wiretap' ? ' (read-only)' : ''}`);
  console.log(`Run \`tp leave ${e.name}\` to end it.`);
}

export async function leave(name: string, o: { namespace?: string }, cmd: Command): Promise<void> {
  await requireConnected();
  const r = await callDaemon('leave', { name, ...(o.namespace ? { namespace: o.namespace } : {}) });
  await emit(parseOutput(cmd.optsWithGlobals().output as string | undefined), r, () =>
    console.log(`Left ${r.engagement.kind} ${r.engagement.name}`),
  );
}

export async function uninstall(workload: string | undefined, o: { allAgents?: boolean; namespace?: string }, cmd: Command): Promise<void> {
  if (!workload && !o.allAgents) throw new CliError('E_FLAG', 'name a workload or pass --all-agents');
  if (workload && o.allAgents) throw new CliError('E_FLAG', 'name a workload or pass --all-agents, not both');
  await requireConnected();
  const r = await callDaemon('uninstall', { ...(workload ? { workload } : {}), ...(o.namespace ? { namespace: o.namespace } : {}) });
  await emit(parseOutput(cmd.optsWithGlobals().output as string | undefined), r, () =>
    console.log(r.workloads.length ? `Removed the traffic agent from ${r.workloads.join(', ')}` : 'No workload had a traffic agent'),
  );
}
