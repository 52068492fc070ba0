// The small commands: quit, version, list, loglevel.
import type { Command } from 'commander';
import { TP_VERSION } from '../../common/version.js';
import { callDaemon, daemonRunning, rootStatusIfRunning } from '../daemon-client.js';
import { CliError, emit, parseOutput, table } from '../output.js';
import { trafficNoteLines } from '../traffic-notes.js';

const fmt = (cmd: Command) => parseOutput(cmd.optsWithGlobals().output as string | undefined);

export async function quit(o: { stopDaemons?: boolean }, cmd: Command): Promise<void> {
  const running = await daemonRunning();
  if (running) await callDaemon('quit', { stopRoot: o.stopDaemons === true });
  await emit(fmt(cmd), { stopped: running }, () => console.log(running ? 'Disconnected; the user daemon stopped' : 'tp was not running'));
}

export async function version(_o: unknown, cmd: Command): Promise<void> {
  const v = (await daemonRunning()) ? await callDaemon('version', {}) : undefined;
  // The root daemon answers the CLI too (its socket belongs to the user who started it): a
  // root daemon without a user daemon still shows.
  const root = v?.rootDaemon ?? (await rootStatusIfRunning())?.version;
  const data = {
    client: TP_VERSION,
    userDaemon: v?.daemon ?? null,
    rootDaemon: root ?? null,
    trafficManager: v?.manager ?? null,
    managerImage: v?.managerImage ?? null,
    agentImage: v?.agentImage ?? null,
    ...(v?.protocol !== undefined ? { protocol: v.protocol } : {}),
  };
  await emit(fmt(cmd), data, () => {
    console.log(`Client:          v${TP_VERSION}`);
    console.log(`User daemon:     ${v ? `v${v.daemon}` : 'not running'}`);
    console.log(`Root daemon:     ${root ? `v${root}` : 'not running'}`);
    console.log(`Traffic manager: ${v?.manager ? `v${v.manager}${v.managerImage ? ` (${v.managerImage})` : ''}` : 'not connected'}`);
    console.log(
      `Agent image:     ${v?.agentImage ?? (v?.manager ? 'unknown (reading the manager pod was not allowed)' : 'not connected')}`,
    );
  });
}

export async function list(opts: { namespace?: string }, cmd: Command): Promise<void> {
  if (!(await daemonRunning())) throw new CliError('E_NOT_CONNECTED', 'tp is not connected to a cluster', 'run `tp connect --socks` first');
  const r = await callDaemon('list', opts.namespace ? { namespace: opts.namespace } : {});
  await emit(fmt(cmd), r, () => {
    if (r.workloads.length === 0) console.log(`No workloads in namespace ${r.namespace}`);
    else {
      console.log(
        table(
          ['NAME', 'KIND', 'READY', 'STATE', 'PORTS'],
          r.workloads.map((w) => [
            w.name,
            w.kind,
            `${w.readyReplicas}/${w.replicas}`,
            r.user ? w.state.replaceAll(` by ${r.user}`, ' by you') : w.state,
            w.ports.map((p) => `${p.name ?? p.port}/${p.protocol.toLowerCase()}`).join(','),
          ]),
        ),
      );
    }
    for (const line of trafficNoteLines(r.workloads, r.user)) console.log(line);
    for (const e of r.ended) console.log(`Your ${e.kind} ${e.name} of ${e.workload} ended at ${e.at.slice(11, 19)}: ${e.reason}`);
  });
}

export async function loglevel(level: string, _o: unknown, cmd: Command): Promise<void> {
  if (!(await daemonRunning())) throw new CliError('E_NOT_RUNNING', 'the user daemon is not running', 'run `tp connect` first');
  const r = await callDaemon('loglevel', { level });
  await emit(fmt(cmd), r, () => console.log(`Log level set to ${r.level}`));
}
