import test from 'ava';
import { coveringRoute, findConflicts, type ExistingRoute } from '../../../lib/root/routes.js';

const route = (dst: string, dev: string, gateway?: string): ExistingRoute => ({
  dst,
  dev,
  ifindex: dev === 'eth0' ? 2 : 3,
  table: 254,
  type: 1,
  ...(gateway ? { gateway } : {}),
});
const machine = [route('0.0.0.0/0', 'eth0', '192.168.1.1'), route('192.168.1.0/24', 'eth0'), route('10.8.0.0/16', 'wg0')];

test('a cluster subnet overlapping a VPN route is a conflict; the default route never is', (t) => {
  const c = findConflicts(['10.8.4.0/24', '10.96.0.0/16'], machine, 'tp0');
  t.is(c.length, 1);
  t.is(c[0]!.subnet, '10.8.4.0/24');
  t.is(c[0]!.route.dev, 'wg0');
  t.deepEqual(
    findConflicts(['10.0.0.0/8'], machine, 'tp0').map((x) => x.route.dst),
    ['10.8.0.0/16'],
    'a wider subnet that would swallow a route conflicts too',
  );
});

test('routes through our own TUN are never conflicts (a reconnect re-adds them)', (t) => {
  t.deepEqual(findConflicts(['10.96.0.0/16'], [...machine, route('10.96.0.0/16', 'tp0')], 'tp0'), []);
});

test('never-proxy subnets keep the route the kernel used before: the longest covering prefix', (t) => {
  t.is(coveringRoute('192.168.1.128/25', machine, 'tp0')?.dst, '192.168.1.0/24');
  t.is(coveringRoute('10.96.5.0/24', machine, 'tp0')?.dst, '0.0.0.0/0');
  t.is(coveringRoute('10.96.5.0/24', [route('10.8.0.0/16', 'wg0')], 'tp0'), undefined);
});

test("when the cluster's subnets change, only the difference is routed or unrouted", async (t) => {
  const { subnetChanges } = await import('../../../lib/root/routes.js');
  t.deepEqual(subnetChanges(['10.96.0.0/16', '10.244.0.0/24'], ['10.96.0.0/16', '10.244.0.0/24', '10.244.1.0/24']), {
    add: ['10.244.1.0/24'],
    remove: [],
  });
  t.deepEqual(
    subnetChanges(['10.96.0.0/16', '10.244.0.0/24'], ['10.96.5.1/16']),
    { add: [], remove: ['10.244.0.0/24'] },
    'host bits do not make a subnet new',
  );
  t.deepEqual(subnetChanges([], []), { add: [], remove: [] });
});
