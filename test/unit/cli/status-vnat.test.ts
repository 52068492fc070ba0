import test from 'ava';
import type { DaemonStatus } from '../../../lib/common/rpc/daemon.js';
import { printStatus } from '../../../lib/cli/actions/status.js';

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
  vif: {
    connected: true,
    interface: 'tp0',
    mtu: 65535,
    address: '198.18.0.1',
    routes: ['10.96.0.0/12', '10.244.0.0/16'],
    neverProxy: [],
    flows: { tcpActive: 0, tcpTotal: 0, udpActive: 0, dialFailures: 0 },
    pid: 11,
    version: '0.1.0',
  },
};

test('#16: tp status shows each VNAT mapping, real → virtual, and why; nothing when there is none', (t) => {
  const lines = printed({
    ...base,
    vif: { ...base.vif!, vnat: [{ real: '10.96.0.0/12', virtual: '100.64.0.0/12', reason: 'overlaps 10.96.0.0/16 via wg0' }] },
  });
  t.true(lines.includes('Virtual subnets:  10.96.0.0/12 → 100.64.0.0/12 (overlaps 10.96.0.0/16 via wg0)'), lines.join('\n'));
  t.true(lines.includes('Routed subnets:   100.64.0.0/12 (VNAT for 10.96.0.0/12), 10.244.0.0/16'), lines.join('\n'));
  t.false(printed({ ...base, vif: { ...base.vif!, vnat: [] } }).some((l) => l.startsWith('Virtual subnets')));
});
