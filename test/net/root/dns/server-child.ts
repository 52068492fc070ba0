// Runs inside the test's network namespace (started with `ip netns exec`): a fake original
// resolver on 127.0.0.2:53 and the DnsServer on 127.0.0.1:53 with a fake manager lookup.
// Prints one JSON line when both listen, then one line per manager lookup (the test checks which
// names reached the "cluster"); runs until killed.

import type { DnsRequest, DnsResponse } from '../../../../lib/common/rpc/manager.js';
import { DnsServer } from '../../../../lib/root/dns/server.js';
import { fakeUpstream, standardHandler } from '../../../unit/root/dns/fake-upstream.js';

const CLUSTER: Record<string, string> = {
  echo: '10.96.0.20',
  'echo.default': '10.96.0.20',
  'echo.default.svc.cluster.local': '10.96.0.20',
  'anything.default': '10.96.0.21',
};

// As the manager answers: the name exists without AAAA → empty NOERROR (lib/manager/dns.ts).
async function lookup(req: DnsRequest): Promise<DnsResponse> {
  process.stdout.write(JSON.stringify({ lookup: req.name, type: req.type }) + '\n');
  await new Promise((r) => setTimeout(r, 5)); // the relay's round trip
  const a = CLUSTER[req.name];
  if (!a) return { addresses: [], rcode: 'NXDOMAIN', ttl: 5 };
  return { canonical: req.name, addresses: req.type === 'A' ? [a] : [], rcode: 'NOERROR', ttl: 30 };
}

const upstream = await fakeUpstream('127.0.0.2', standardHandler, 53);
const server = new DnsServer({
  listen: { host: '127.0.0.1', port: 53 },
  lookup,
  upstreams: [`127.0.0.2:${upstream.port}`],
  namespaces: ['default'],
});
await server.start();
process.stdout.write(JSON.stringify({ ready: true, port: server.addresses()[0]!.port }) + '\n');
process.on('SIGTERM', () => {
  void Promise.all([server.stop(), upstream.close()]).then(() => process.exit(0));
});
