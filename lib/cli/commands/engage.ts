// `tp intercept|replace|ingest|wiretap WORKLOAD [flags] [-- CMD]`, `tp leave NAME`,
// `tp uninstall WORKLOAD|--all-agents` (the actions: actions/engage.ts).
import type { Command } from 'commander';
import type { EngagementKind } from '../../common/rpc/engagement.js';
import { lazyAction } from '../lazy.js';

const collect = (v: string, p: string[] = []) => [...p, v];
const ABOUT: Record<EngagementKind, string> = {
  intercept: "send the traffic of a workload's port (or the HTTP requests that match a filter) to a handler on this machine",
  replace: "take a container out of the workload's pods; all its ports go to this machine",
  ingest: "get a container's environment and volumes, with no traffic",
  wiretap: "get a copy of the requests to a workload's port; the app keeps answering",
};
const actions = () => import('../actions/engage.js');

function register(program: Command, kind: EngagementKind): void {
  const c = program
    .command(kind)
    .description(ABOUT[kind])
    .argument('<workload>', 'a Deployment, StatefulSet or ReplicaSet')
    .argument('[command...]', "after --: a command to run with the container's environment; tp leaves when it exits")
    .option('-n, --namespace <name>', "the workload's namespace (default: the connected one)")
    .option('--name <name>', "what to call the engagement (default: the workload's name)")
    .option('--container <name>', 'the app container, when the pod has several');
  if (kind !== 'ingest') {
    c.option(
      '-p, --port <local[:remote]>',
      kind === 'replace'
        ? 'map a container port to another local port (repeatable; default: the same numbers)'
        : 'local port, and the container port by number or name (repeatable)',
      collect,
    );
    c.option('--address <ip>', 'where the local handler listens', '127.0.0.1');
  }
  if (kind === 'intercept') {
    c.option('--http-header <name=value>', 'take only HTTP requests with this header (repeatable)', collect);
    c.option('--http-path-prefix <prefix>', 'take only HTTP requests whose path starts with this');
  }
  c.option('--env-file <file>', "write the container's environment to this file")
    .option('--env-syntax <syntax>', 'syntax of --env-file: docker, compose, sh or json', 'docker')
    .option('--env-json <file>', "write the container's environment to this file as JSON")
    .option('--mount <dir|true|false>', "mount the container's volumes here (true: a directory tp picks; false: do not mount)")
    .option('--timeout <seconds>', 'how long to wait for the traffic agent (default: timeouts.agentArrival of the config file, else 120)');
  lazyAction(c, async () => (await actions()).engage(kind));
}

export function registerEngage(program: Command): void {
  for (const k of ['intercept', 'replace', 'ingest', 'wiretap'] as const) register(program, k);

  const leave = program
    .command('leave')
    .description('end an engagement; the workload serves its own traffic again')
    .argument('<name>')
    .option('-n, --namespace <name>', "the engagement's namespace, when it is not one this daemon made (default: the connected one)");
  lazyAction(leave, async () => (await actions()).leave);

  const uninstall = program
    .command('uninstall')
    .description('remove the traffic agent from a workload (or from every workload of the namespace); its pods restart without it')
    .argument('[workload]')
    .option('--all-agents', 'every workload with an agent in the namespace')
    .option('-n, --namespace <name>', 'the namespace (default: the connected one)');
  lazyAction(uninstall, async () => (await actions()).uninstall);
}
