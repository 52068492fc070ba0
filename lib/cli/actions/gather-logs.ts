// `tp gather-logs`: everything needed to report a problem, in one archive — the workstation's logs
// (CLI, user daemon, root daemon, their captured output, rotated files too), `tp status` and the
// settings, and the traffic manager's and the agents' pod logs read through the API with the
// user's kubeconfig. `--since` keeps only recent lines. The cluster part is best effort: when it
// cannot be read (no kubeconfig, no rights), the archive says why and still holds the rest.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../common/config.js';
import { logDir } from '../../common/rpc/daemon.js';
import { TP_VERSION } from '../../common/version.js';
import { archive, archiveFormatOf, type ArchiveEntry } from '../archive.js';
import { callDaemon, daemonRunning } from '../daemon-client.js';
import { CliError, describeError, emit, parseOutput } from '../output.js';
import { config } from '../settings.js';

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

export async function gatherLogs(o: Record<string, unknown>, cmd: Command): Promise<void> {
  const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const file = resolve(typeof o.file === 'string' ? o.file : `tp-logs-${stamp}.tar.gz`);
  const kind = archiveFormatOf(file);
  if (!kind) throw new CliError('E_FLAG', `--file ${file} must end in .tar.gz, .tgz or .zip`, 'for example --file tp-logs.zip');
  const sinceSeconds = typeof o.since === 'string' ? parseSince(o.since) : undefined;
  const since = sinceSeconds ? new Date(Date.now() - sinceSeconds * 1000) : undefined;
  const notes: string[] = [];

  const entries = workstationLogs(logDir(), since);
  const meta: Record<string, unknown> = {
    client: TP_VERSION,
    gatheredAt: new Date().toISOString(),
    since: since?.toISOString() ?? null,
    logDir: logDir(),
  };
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
      const managerNs = typeof o.managerNamespace === 'string' ? o.managerNamespace : config().managerNamespace;
      const r = await (await import('./pod-logs.js')).clusterLogs(o, managerNs, sinceSeconds, notes);
      entries.push(...r.entries);
      meta.cluster = r.cluster;
    } catch (err) {
      notes.push(`no pod logs: ${describeError(err).message}`);
    }
  }
  meta.notes = notes;
  entries.unshift({ name: 'tp-gather-logs.json', data: Buffer.from(JSON.stringify(meta, null, 2) + '\n') });
  writeFileSync(file, archive(entries, kind), { mode: 0o600 });
  const result = { file, format: kind, files: entries.map((e) => e.name), notes };
  await emit(format, result, () => {
    console.log(`Wrote ${file} (${entries.length} files)`);
    for (const n of notes) console.log(`  note: ${n}`);
  });
}
