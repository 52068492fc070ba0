import test from 'ava';
import { formatCidr, parseCidr } from '../../../lib/common/cidr.js';
import type { ExistingRoute } from '../../../lib/root/routes.js';
import { pickVirtualSubnet, planVnat, Vnat, type VnatPlanInput } from '../../../lib/root/vnat.js';

const route = (dst: string, dev: string, extra: Partial<ExistingRoute> = {}): ExistingRoute => ({
  dst,
  dev,
  ifindex: 2,
  table: 254,
  type: 1,
  ...extra,
});
/** A laptop on a home LAN with a VPN that routes 10.96.0.0/16 (the cluster's Service range) and
 * the TUN's own address as the kernel lists it (local table). */
const machine: ExistingRoute[] = [
  route('0.0.0.0/0', 'wlan0', { gateway: '192.168.1.1' }),
  route('192.168.1.0/24', 'wlan0'),
  route('10.96.0.0/16', 'vpn0'),
  route('198.18.0.1/32', 'tp0', { table: 255, type: 2 }),
];
const TUN = '198.18.0.1/32';

const plan = (over: Partial<VnatPlanInput>) =>
  planVnat({
    subnets: ['10.96.0.0/12', '10.244.0.0/16'],
    existing: machine,
    ourDev: 'tp0',
    allowConflicting: false,
    force: [],
    reserved: [TUN],
    ...over,
  });
const pick = (real: string, routes: string[] = [], reserved: string[] = []) => {
  const c = pickVirtualSubnet(
    parseCidr(real),
    routes.map((r) => parseCidr(r)),
    reserved.map((r) => parseCidr(r)),
  );
  return c && formatCidr(c);
};

test('#16 VNAT: a cluster subnet that overlaps a route of the machine is mapped to a free subnet of its size; the others are routed as they are', (t) => {
  const p = plan({});
  t.deepEqual(p.mappings, [{ real: '10.96.0.0/12', virtual: '100.64.0.0/12', reason: 'overlaps 10.96.0.0/16 via vpn0' }]);
  t.deepEqual(
    p.routed,
    ['100.64.0.0/12', '10.244.0.0/16'],
    'the virtual subnet is routed in place of the real one; the real route of the VPN stays',
  );
});

test('#16 VNAT: a subnet that fits 198.18.0.0/15 (RFC 2544) goes there, around the TUN address 198.18.0.1', (t) => {
  const p = plan({ subnets: ['10.96.0.0/24'], existing: [...machine, route('10.96.0.0/20', 'docker0')] });
  t.deepEqual(
    p.mappings.map((m) => m.virtual),
    ['198.18.1.0/24'],
  );
  t.is(pick('10.96.0.0/16', [], [TUN]), '198.19.0.0/16', 'the /16 holding the TUN address is skipped');
  t.is(
    pick('10.96.0.0/15', [], [TUN]),
    '100.64.0.0/15',
    'the only /15 of 198.18.0.0/15 holds the TUN address: CGNAT space (RFC 6598) is next',
  );
  t.is(pick('10.96.0.0/12', [], [TUN]), '100.64.0.0/12', 'a /12 fits only 100.64.0.0/10');
});

test('#16 VNAT: a candidate that any route claims, in any table, is skipped; a route wider than the whole range claims nothing', (t) => {
  t.is(pick('10.0.0.0/24', ['198.18.1.0/24', '198.18.2.128/25'], [TUN]), '198.18.3.0/24');
  // Clash-style proxies route all of 198.18.0.0/15; Tailscale routes 100.64.0.0/10 in its own table 52.
  t.is(pick('10.0.0.0/24', ['198.18.0.0/15'], [TUN]), '100.64.0.0/24');
  t.is(pick('10.0.0.0/24', ['198.18.0.0/15', '100.64.0.0/10']), undefined, 'both ranges taken: no virtual subnet');
  t.is(
    pick('10.0.0.0/24', ['0.0.0.0/1', '128.0.0.0/1', '0.0.0.0/0'], [TUN]),
    '198.18.1.0/24',
    "a VPN's def1 routes cover the range wholesale and claim none of it",
  );
  const p = plan({ subnets: ['10.96.0.0/24'], existing: [...machine, route('198.18.0.0/15', 'utun9', { table: 52 })] });
  t.deepEqual(
    p.mappings.map((m) => m.virtual),
    ['100.64.0.0/24'],
    'routes of other tables claim too',
  );
});

test('#16 VNAT: a virtual subnet never overlaps a cluster subnet, a --never-proxy subnet or another virtual subnet', (t) => {
  // EKS custom networking puts pods in 100.64.0.0/10 space.
  const p = plan({ subnets: ['10.96.0.0/12', '100.64.0.0/16'], reserved: [TUN, '100.80.0.0/12'] });
  t.deepEqual(
    p.mappings.map((m) => m.virtual),
    ['100.96.0.0/12'],
    'skips 100.64/12 (a cluster subnet is in it) and 100.80/12 (reserved)',
  );
  const two = plan({ subnets: ['10.96.0.0/24', '10.97.0.0/24'], existing: [...machine, route('10.97.0.0/16', 'wg0')] });
  t.deepEqual(
    two.mappings.map((m) => m.virtual),
    ['198.18.1.0/24', '198.18.2.0/24'],
  );
});

test("#16 VNAT: IPv6 subnets map into tp's ULA prefix fd74:7076:6e61::/48 (RFC 4193), by size", (t) => {
  t.is(pick('fd00:10:96::/108'), 'fd74:7076:6e61::/108');
  t.is(pick('fd00:10:244::/64'), 'fd74:7076:6e61::/64');
  t.is(pick('fd00:10:244::/64', ['fd74:7076:6e61::/64']), 'fd74:7076:6e61:1::/64');
  t.is(pick('fd00:10::/48'), 'fd74:7076:6e61::/48');
  t.is(pick('fd00:10::/32'), 'fd74:7076::/32', "wider than tp's /48: the block of fd00::/8 that holds it");
  t.is(pick('2001:db8::/7'), undefined, 'wider than fd00::/8: nowhere to go');
  const p = plan({ subnets: ['fd00:10:96::/108'], existing: [route('fd00:10::/32', 'vpn0')] });
  t.deepEqual(p.mappings, [{ real: 'fd00:10:96::/108', virtual: 'fd74:7076:6e61::/108', reason: 'overlaps fd00:10::/32 via vpn0' }]);
});

test('#16 VNAT: the same machine and cluster give the same mapping every time (DNS caches stay right across reconnects)', (t) => {
  t.deepEqual(plan({}), plan({}));
});

test('#16 --allow-conflicting-subnets keeps the real subnet routed (shadowing the route); --vnat maps without an overlap and wins over it', (t) => {
  const allowed = plan({ allowConflicting: true });
  t.deepEqual(allowed.mappings, []);
  t.deepEqual(allowed.routed, ['10.96.0.0/12', '10.244.0.0/16']);
  const forced = plan({ force: ['10.244.0.0/16'] });
  t.deepEqual(
    forced.mappings.map((m) => [m.real, m.virtual, m.reason]),
    [
      ['10.96.0.0/12', '100.64.0.0/12', 'overlaps 10.96.0.0/16 via vpn0'],
      ['10.244.0.0/16', '198.19.0.0/16', '--vnat'],
    ],
  );
  t.deepEqual(
    plan({ force: ['10.244.5.0/24'], allowConflicting: true }).mappings.map((m) => m.real),
    ['10.244.0.0/16'],
    'a --vnat CIDR inside a subnet maps all of that subnet',
  );
  t.deepEqual(
    plan({ force: ['all'], allowConflicting: true }).mappings.map((m) => m.real),
    ['10.96.0.0/12', '10.244.0.0/16'],
  );
});

test('#16 VNAT: a conflict with no virtual subnet of its size left is refused, naming both routes and the ways out', (t) => {
  const err = t.throws(() => plan({ subnets: ['10.0.0.0/8'] }));
  t.is((err as { code?: string }).code, 'E_SUBNET_CONFLICT');
  t.is(
    err!.message,
    "the cluster subnet 10.0.0.0/8 overlaps this machine's route 10.96.0.0/16 via vpn0, and no free virtual subnet of its size (/8) is left in 198.18.0.0/15 or 100.64.0.0/10",
  );
  t.regex((err as { hint?: string }).hint ?? '', /--allow-conflicting-subnets.*--never-proxy 10\.0\.0\.0\/8/);
  t.notThrows(() => plan({ subnets: ['10.0.0.0/8'], allowConflicting: true }));
});

test('#16 VNAT: addresses move between real and virtual subnets host bits intact; --never-proxy addresses are never mapped', (t) => {
  const v = new Vnat(['10.96.7.0/24']);
  v.add([
    { real: '10.96.0.0/12', virtual: '100.64.0.0/12', reason: 'x' },
    { real: 'fd00:10:96::/108', virtual: 'fd74:7076:6e61::/108', reason: 'y' },
  ]);
  t.is(v.toVirtual('10.96.0.10'), '100.64.0.10');
  t.is(v.toVirtual('10.111.255.254'), '100.79.255.254');
  t.is(v.toVirtual('10.96.7.1'), '10.96.7.1', 'never-proxy');
  t.is(v.toVirtual('10.244.0.5'), '10.244.0.5', 'not mapped');
  t.is(v.toVirtual('fd00:10:96::a'), 'fd74:7076:6e61::a');
  t.is(v.toReal('100.64.0.10'), '10.96.0.10');
  t.is(v.toReal('fd74:7076:6e61::a'), 'fd00:10:96::a');
  t.deepEqual([...v.map.toReal(Buffer.from([100, 79, 1, 2]))], [10, 111, 1, 2], "the stack's map agrees");
  t.deepEqual(v.neverProxyImages(v.list()[0]!), ['100.64.7.0/24']);
  t.deepEqual(
    v.mapDnsResponse({
      canonical: 'a.b.svc.cluster.local',
      addresses: ['10.96.0.10', '10.96.7.9', '10.244.0.1'],
      rcode: 'NOERROR',
      ttl: 5,
    }),
    {
      canonical: 'a.b.svc.cluster.local',
      addresses: ['100.64.0.10', '10.96.7.9', '10.244.0.1'],
      rcode: 'NOERROR',
      ttl: 5,
    },
  );
  t.is(v.remove('10.96.3.0/12')?.virtual, '100.64.0.0/12');
  t.is(v.toVirtual('10.96.0.10'), '10.96.0.10');
  t.deepEqual([...v.map.toReal(Buffer.from([100, 64, 0, 10]))], [100, 64, 0, 10]);
});
