import test from 'ava';
import type { DaemonStatus } from '../../../lib/common/rpc/daemon.js';
import { printStatus } from '../../../lib/cli/actions/status.js';
import { mappedNamespacesFlag } from '../../../lib/cli/commands/connect.js';

function printed(s: DaemonStatus): string[] {
  const lines: string[] = [];
  const log = console.log;
  console.log = (l: string) => lines.push(l);
  try {
    printStatus(s);
  } finally {
    console.log = log;
  }
  return lines;
}

const base: DaemonStatus = {
  state: 'connected',
  daemonVersion: '0.1.0',
  daemonPid: 10,
  reconnects: 0,
  flows: { active: 0, total: 0, failed: 0 },
  namespace: 'team-a',
};

test('#16: tp status shows the mapped namespaces and which namespaces resolve; nothing when unmapped', (t) => {
  const lines = printed({ ...base, mappedNamespaces: ['team-a', 'team-b'], dnsNamespaces: ['team-a'] });
  t.true(
    lines.some((l) => /^Limited to: +namespaces team-a, team-b \(--mapped-namespaces\)$/.test(l)),
    lines.join('\n'),
  );
  t.true(
    lines.some((l) => /^DNS namespaces: +team-a$/.test(l)),
    lines.join('\n'),
  );
  t.false(printed(base).some((l) => l.startsWith('Limited to')));
});

test('#16: tp status names a few DNS namespaces and counts the rest (-o json has them all)', (t) => {
  const many = Array.from({ length: 20 }, (_, i) => `ns${i}`);
  const line = printed({ ...base, dnsNamespaces: many }).find((l) => l.startsWith('DNS namespaces'))!;
  t.regex(line, /ns0, ns1, .*ns7 and 12 more \(-o json lists them\)$/);
});

test('#16: --mapped-namespaces takes a comma list, repeatable; "all" lifts the config file\'s list; a bad name is a flag error', (t) => {
  t.deepEqual(mappedNamespacesFlag('a,b'), ['a', 'b']);
  t.deepEqual(mappedNamespacesFlag(' c , a', ['a', 'b']), ['a', 'b', 'c']);
  t.deepEqual(mappedNamespacesFlag('all'), []);
  t.throws(() => mappedNamespacesFlag('a,Team_B'), { message: /--mapped-namespaces: "Team_B" is not a namespace name/ });
});
