// `tp intercept|replace|ingest|wiretap WORKLOAD [flags] [-- CMD]`, `tp leave NAME`,
// `tp uninstall WORKLOAD|--all-agents`.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { EngageCliResponse } from '../../common/rpc/daemon.js';
import type { EngagementKind } from '../../common/rpc/engagement.js';
import { callDaemon, daemonRunning } from '../daemon-client.js';
import { formatEnvFile, parseEnvSyntax, writeEnvFile } from '../../user/env-file.js';
import { parseFilter, parseMount, parsePortFlag, parseTimeout } from '../engage-flags.js';
import { CliError, emit, parseOutput } from '../output.js';
import { runCommand } from './connect.js';
import { config } from './kube-flags.js';

const collect = (v: string, p: string[] = []) => [...p, v];
const VERB: Record<EngagementKind, string> = { intercept: 'Intercepting', replace: 'Replacing', ingest: 'Ingesting', wiretap: 'Wiretapping' };
const ABOUT: Record<EngagementKind, string> = {
  intercept: 'send the traffic of a workload\'s port (or the HTTP requests that match a filter) to a handler on this machine',
  replace: 'take a container out of the workload\'s pods; all its ports go to this machine',
  ingest: 'get a container\'s environment and volumes, with no traffic',
  wiretap: 'get a copy of the requests to a workload\'s port; the app keeps answering',
};

async function requireConnected(): Promise<void> {
  if (!(await daemonRunning()) || (await callDaemon('status', {})).state === 'disconnected') {
    throw new CliError('E_NOT_CONNECTED', 'tp is not connected to a cluster', 'run `tp connect` first');
  }
}

function register(program: Command, kind: EngagementKind): void {
  const c = program
    .command(kind)
    .description(ABOUT[kind])
    .argument('<workload>', 'a Deployment, StatefulSet or ReplicaSet')
    .argument('[command...]', 'after --: a command to run with the container\'s environment; tp leaves when it exits')
    .option('-n, --namespace <name>', 'the workload\'s namespace (default: the connected one)')
    .option('--name <name>', 'what to call the engagement (default: the workload\'s name)')
    .option('--container <name>', 'the app container, when the pod has several');
  if (kind !== 'ingest') {
    c.option('-p, --port <local[:remote]>', kind === 'replace' ? 'map a container port to another local port (repeatable; default: the same numbers)' : 'local port, and the container port by number or name (repeatable)', collect);
    c.option('--address <ip>', 'where the local handler listens', '127.0.0.1');
  }
  if (kind === 'intercept') {
    c.option('--http-header <name=value>', 'take only HTTP requests with this header (repeatable)', collect);
    c.option('--http-path-prefix <prefix>', 'take only HTTP requests whose path starts with this');
  }
  c.option('--env-file <file>', 'write the container\'s environment to this file')
    .option('--env-syntax <syntax>', 'syntax of --env-file: docker, compose, sh or json', 'docker')
    .option('--env-json <file>', 'write the container\'s environment to this file as JSON')
    .option('--mount <dir|true|false>', 'mount the container\'s volumes here (true: a directory tp picks; false: do not mount)')
    .option('--timeout <seconds>', 'how long to wait for the traffic agent (default: timeouts.agentArrival of the config file, else 120)')
    .action(async (workload: string, command: string[], o: Record<string, unknown>, cmd: Command) => {
      const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
      const syntax = parseEnvSyntax(String(o.envSyntax ?? 'docker'));
      const ports = ((o.port as string[] | undefined) ?? []).map(parsePortFlag);
      const filter = kind === 'intercept' ? parseFilter(o.httpHeader as string[] | undefined, o.httpPathPrefix as string | undefined) : undefined;
      const timeoutMs = parseTimeout(o.timeout as string | undefined) ?? config().timeouts.agentArrival * 1000;
      const mount = parseMount(o.mount as string | undefined);
      await requireConnected();
      const name = (o.name as string | undefined) ?? workload;
      const showProgress = process.stderr.isTTY && format === 'default';
      const shown = new Set<string>();
      const poll = showProgress
        ? setInterval(() => {
            void callDaemon('engageProgress', { name }, 2_000).then((p) => {
              for (const m of p.messages) if (!shown.has(m)) (shown.add(m), process.stderr.write(`${m}\n`));
            }, () => {});
          }, 500)
        : undefined;
      // Ctrl-C while waiting for the agents: take the half-made engagement back before exiting.
      const onInterrupt = () => {
        process.stderr.write(`\ntp: cancelling ${name}\n`);
        void callDaemon('leave', { name }, 10_000).catch(() => {}).finally(() => process.exit(130));
      };
      process.once('SIGINT', onInterrupt);
      let r: EngageCliResponse;
      try {
        r = await callDaemon('engage', {
          kind, workload, ports, mount,
          ...(o.namespace ? { namespace: String(o.namespace) } : {}),
          ...(o.name ? { name: String(o.name) } : {}),
          ...(o.container ? { container: String(o.container) } : {}),
          ...(o.address ? { address: String(o.address) } : {}),
          ...(filter ? { filter } : {}),
          ...(timeoutMs ? { timeoutMs } : {}),
        }, (timeoutMs ?? 120_000) + 60_000);
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
      if (format === 'default') for (const w of r.warnings ?? []) process.stderr.write(`tp: warning: ${w.replace(/\.$/, '')}.\n`);
      const { env: _env, ...shownResult } = r;
      if (command.length === 0) {
        emit(format, shownResult, () => printEngaged(kind, r, o));
        return;
      }
      if (format === 'default') printEngaged(kind, r, o);
      const code = await runCommand(command, { ...process.env, ...r.env });
      await callDaemon('leave', { name }).catch((err) => process.stderr.write(`tp: leaving ${name} failed: ${(err as Error).message}\n`));
      process.exit(code);
    });
}

function printEngaged(kind: EngagementKind, r: EngageCliResponse, o: Record<string, unknown>): void {
  const e = r.engagement;
  console.log(`${VERB[kind]} ${e.workload.kind.toLowerCase()}/${e.workload.name} (container ${e.container}) as "${e.name}"`);
  const f = e.filter && (Object.keys(e.filter.headers).length || e.filter.pathPrefix)
    ? ` for HTTP requests with ${[...Object.entries(e.filter.headers).map(([k, v]) => `${k}: ${v}`), ...(e.filter.pathPrefix ? [`path ${e.filter.pathPrefix}*`] : [])].join(' and ')}`
    : '';
  for (const p of r.forwards) console.log(`  port ${p.remote}${p.name ? ` (${p.name})` : ''} → ${p.address}:${p.local}${kind === 'wiretap' ? ' (a copy; answers are discarded)' : f}`);
  if (typeof o.envFile === 'string') console.log(`  environment written to ${o.envFile}`);
  if (typeof o.envJson === 'string') console.log(`  environment written to ${o.envJson}`);
  if (r.mountPoint) console.log(`  volumes mounted at ${r.mountPoint}${kind === 'ingest' || kind === 'wiretap' ? ' (read-only)' : ''}`);
  console.log(`Run \`tp leave ${e.name}\` to end it.`);
}

export function registerEngage(program: Command): void {
  for (const k of ['intercept', 'replace', 'ingest', 'wiretap'] as const) register(program, k);

  program
    .command('leave')
    .description('end an engagement; the workload serves its own traffic again')
    .argument('<name>')
    .option('-n, --namespace <name>', 'the engagement\'s namespace, when it is not one this daemon made (default: the connected one)')
    .action(async (name: string, o: { namespace?: string }, cmd: Command) => {
      await requireConnected();
      const r = await callDaemon('leave', { name, ...(o.namespace ? { namespace: o.namespace } : {}) });
      emit(parseOutput(cmd.optsWithGlobals().output as string | undefined), r, () => console.log(`Left ${r.engagement.kind} ${r.engagement.name}`));
    });

  program
    .command('uninstall')
    .description('remove the traffic agent from a workload (or from every workload of the namespace); its pods restart without it')
    .argument('[workload]')
    .option('--all-agents', 'every workload with an agent in the namespace')
    .option('-n, --namespace <name>', 'the namespace (default: the connected one)')
    .action(async (workload: string | undefined, o: { allAgents?: boolean; namespace?: string }, cmd: Command) => {
      if (!workload && !o.allAgents) throw new CliError('E_FLAG', 'name a workload or pass --all-agents');
      if (workload && o.allAgents) throw new CliError('E_FLAG', 'name a workload or pass --all-agents, not both');
      await requireConnected();
      const r = await callDaemon('uninstall', { ...(workload ? { workload } : {}), ...(o.namespace ? { namespace: o.namespace } : {}) });
      emit(parseOutput(cmd.optsWithGlobals().output as string | undefined), r, () =>
        console.log(r.workloads.length ? `Removed the traffic agent from ${r.workloads.join(', ')}` : 'No workload had a traffic agent'));
    });
}
