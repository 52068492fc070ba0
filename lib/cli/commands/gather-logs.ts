// `tp gather-logs`: everything needed to report a problem, in one archive — the workstation's logs
// (CLI, user daemon, root daemon, their captured output, rotated files too), `tp status` and the
// settings, and the traffic manager's and the agents' pod logs read through the API with the
// user's kubeconfig. `--since` keeps only recent lines. The cluster part is best effort: when it
// cannot be read (no kubeconfig, no rights), the archive says why and still holds the rest.
import * as k8s from '@kubernetes/client-node';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../common/config.js';
import { AGENT_CONTAINER_NAME, AGENT_INIT_CONTAINER_NAME, agentPodSelector } from '../../common/agent-config.js';
import { httpStatusOf } from '../../common/kube-errors.js';
import { logDir } from '../../common/rpc/daemon.js';
import { TP_VERSION } from '../../common/version.js';
import { checkCredentials, kubeFailure, loadKube, type KubeTarget } from '../../user/kube.js';
import { archive, archiveFormatOf, type ArchiveEntry } from '../archive.js';
import { callDaemon, daemonRunning } from '../daemon-client.js';
import { CliError, describeError, emit, parseOutput } from '../output.js';
import { config, KUBECONFIG_HELP, MANAGER_NAMESPACE_HELP } from './kube-flags.js';

/** At most this much of each pod log (the API server's limitBytes). */
const POD_LOG_LIMIT = 10 * 1024 * 1024;

/** "90s", "15m", "2h", "1d" → seconds. */
export function parseSince(v: string): number {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(v.trim());
  if (!m) throw new CliError('E_FLAG', `--since "${v}" is not a duration`, 'use a number and a unit: 30s, 15m, 2h or 1d');
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** Lines of a JSON-lines log at or after `since` (lines without a time are kept: they belong to
 * the line before, e.g. a stack). */
export function linesSince(text: string, since: Date | undefined): string {
  if (!since) return text;
  const out: string[] = [];
  let keep = false;
  for (const line of text.split('\n')) {
    const t = /^\{"time":"([^"]+)"/.exec(line)?.[1];
    if (t) keep = Date.parse(t) >= since.getTime();
    if (keep && line) out.push(line);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** The workstation's log files: every file in the log directory (rotated ones included). */
export function workstationLogs(dir: string, since: Date | undefined): ArchiveEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: ArchiveEntry[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      if (since && st.mtime < since) continue; // nothing written since
      const text = linesSince(readFileSync(path, 'utf8'), since);
      out.push({ name: `workstation/logs/${name}`, data: Buffer.from(text), mtime: st.mtime });
    } catch {
      // a file rotated away while we read: skip it
    }
  }
  return out;
}

interface PodLogTarget { namespace: string; pod: string; container: string; previous: boolean; dir: string }

async function podLogs(t: KubeTarget, managerNamespace: string, agentNamespace: string, sinceSeconds: number | undefined, notes: string[]): Promise<ArchiveEntry[]> {
  const core = t.kc.makeApiClient(k8s.CoreV1Api);
  const targets: PodLogTarget[] = [];
  const add = (p: k8s.V1Pod, dir: string, only?: string[]) => {
    const ns = p.metadata?.namespace ?? '';
    const pod = p.metadata?.name ?? '';
    const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
    for (const c of [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])]) {
      if (only && !only.includes(c.name)) continue;
      targets.push({ namespace: ns, pod, container: c.name, previous: false, dir });
      if ((statuses.find((s) => s.name === c.name)?.restartCount ?? 0) > 0) targets.push({ namespace: ns, pod, container: c.name, previous: true, dir });
    }
  };
  try {
    const managers = await core.listNamespacedPod({ namespace: managerNamespace, labelSelector: 'app.kubernetes.io/name=traffic-manager' });
    if (managers.items.length === 0) notes.push(`no traffic-manager pod in namespace ${managerNamespace}`);
    for (const p of managers.items) add(p, 'cluster/traffic-manager');
  } catch (err) {
    notes.push(`listing the traffic manager's pods in ${managerNamespace} failed: ${describeError(kubeFailure(err, t, { verb: 'list', resource: 'pods', namespace: managerNamespace })).message}`);
  }
  const selector = agentPodSelector(managerNamespace);
  let agents: k8s.V1Pod[] = [];
  try {
    agents = (await core.listPodForAllNamespaces({ labelSelector: selector })).items;
  } catch (err) {
    // Most users may list pods only in some namespaces: then the one they work in.
    if (httpStatusOf(err) !== 403) notes.push(`listing agent pods failed: ${describeError(kubeFailure(err, t, { verb: 'list', resource: 'pods' })).message}`);
    try {
      agents = (await core.listNamespacedPod({ namespace: agentNamespace, labelSelector: selector })).items;
      notes.push(`agent pods: only namespace ${agentNamespace} (listing pods cluster-wide is not allowed); pass -n for another`);
    } catch (err2) {
      notes.push(`listing agent pods in ${agentNamespace} failed: ${describeError(kubeFailure(err2, t, { verb: 'list', resource: 'pods', namespace: agentNamespace })).message}`);
    }
  }
  for (const p of agents) add(p, `cluster/agents/${p.metadata?.namespace}`, [AGENT_CONTAINER_NAME, AGENT_INIT_CONTAINER_NAME]);

  const out: ArchiveEntry[] = [];
  for (const x of targets) {
    try {
      const text = await core.readNamespacedPodLog({
        name: x.pod, namespace: x.namespace, container: x.container, limitBytes: POD_LOG_LIMIT, timestamps: true,
        ...(x.previous ? { previous: true } : {}), ...(sinceSeconds ? { sinceSeconds } : {}),
      });
      out.push({ name: `${x.dir}/${x.pod}/${x.container}${x.previous ? '.previous' : ''}.log`, data: Buffer.from(String(text ?? '')) });
    } catch (err) {
      notes.push(`the log of ${x.namespace}/${x.pod} container ${x.container}${x.previous ? ' (previous)' : ''} could not be read: ${describeError(kubeFailure(err, t, { verb: 'get', resource: 'pods/log', namespace: x.namespace })).message}`);
    }
  }
  return out;
}

export function registerGatherLogs(program: Command): void {
  program
    .command('gather-logs')
    .description('collect the daemons\' logs and the traffic manager\'s and agents\' pod logs into one archive, to attach to a problem report')
    .option('-f, --file <archive>', 'where to write it: a .tar.gz (.tgz) or .zip file (default: tp-logs-DATE-TIME.tar.gz here)')
    .option('--since <duration>', 'only what was logged in the last 30s, 15m, 2h, 1d …')
    .option('--no-cluster', 'leave out the pod logs (no kubeconfig needed)')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .option('--context <name>', 'kubeconfig context to use (default: its current context)')
    .option('-n, --namespace <name>', 'where to look for agent pods when they cannot be listed cluster-wide (default: the context\'s)')
    .option('--manager-namespace <name>', MANAGER_NAMESPACE_HELP)
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
      const file = resolve(typeof o.file === 'string' ? o.file : `tp-logs-${stamp}.tar.gz`);
      const kind = archiveFormatOf(file);
      if (!kind) throw new CliError('E_FLAG', `--file ${file} must end in .tar.gz, .tgz or .zip`, 'for example --file tp-logs.zip');
      const sinceSeconds = typeof o.since === 'string' ? parseSince(o.since) : undefined;
      const since = sinceSeconds ? new Date(Date.now() - sinceSeconds * 1000) : undefined;
      const notes: string[] = [];

      const entries = workstationLogs(logDir(), since);
      const meta: Record<string, unknown> = { client: TP_VERSION, gatheredAt: new Date().toISOString(), since: since?.toISOString() ?? null, logDir: logDir() };
      try {
        const c = loadConfig();
        meta.config = { path: c.path, exists: c.exists, settings: c.config };
      } catch (err) {
        notes.push(describeError(err).message);
      }
      if (await daemonRunning()) {
        meta.status = await callDaemon('status', {}, 5_000).catch((err) => ({ error: describeError(err).message }));
        meta.version = await callDaemon('version', {}, 5_000).catch((err) => ({ error: describeError(err).message }));
      } else {
        meta.status = 'the user daemon is not running';
      }

      if (o.cluster !== false) {
        try {
          const t = loadKube({
            ...(typeof o.kubeconfig === 'string' ? { kubeconfig: o.kubeconfig } : {}),
            ...(typeof o.context === 'string' ? { context: o.context } : {}),
          });
          await checkCredentials(t);
          const managerNs = typeof o.managerNamespace === 'string' ? o.managerNamespace : config().managerNamespace;
          const agentNs = typeof o.namespace === 'string' ? o.namespace : t.namespace;
          entries.push(...(await podLogs(t, managerNs, agentNs, sinceSeconds, notes)));
          meta.cluster = { context: t.context, server: t.kc.getCurrentCluster()?.server, managerNamespace: managerNs };
        } catch (err) {
          notes.push(`no pod logs: ${describeError(err).message}`);
        }
      }
      meta.notes = notes;
      entries.unshift({ name: 'tp-gather-logs.json', data: Buffer.from(JSON.stringify(meta, null, 2) + '\n') });
      writeFileSync(file, archive(entries, kind), { mode: 0o600 });
      const result = { file, format: kind, files: entries.map((e) => e.name), notes };
      emit(format, result, () => {
        console.log(`Wrote ${file} (${entries.length} files)`);
        for (const n of notes) console.log(`  note: ${n}`);
      });
    });
}
