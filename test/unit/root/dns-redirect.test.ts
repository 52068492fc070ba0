import test from 'ava';
import { CHAIN, redirectRules } from '../../../lib/root/dns-redirect.js';

test("the DNS redirect DNATs the nameservers' port 53 to the local server, except its own upstream queries", (t) => {
  const rules = redirectRules({ nameservers: ['10.0.0.2'], to: { host: '127.0.0.1', port: 5353 }, upstreamSourcePorts: [32700, 32763] });
  t.deepEqual(rules[0], ['-t', 'nat', '-N', CHAIN]);
  t.deepEqual(rules[1], [
    '-t',
    'nat',
    '-A',
    CHAIN,
    '-d',
    '10.0.0.2/32',
    '-p',
    'udp',
    '--dport',
    '53',
    '!',
    '--sport',
    '32700:32763',
    '-j',
    'DNAT',
    '--to-destination',
    '127.0.0.1:5353',
  ]);
  t.is(rules[2]![7], 'tcp');
  t.deepEqual(rules.at(-1), ['-t', 'nat', '-I', 'OUTPUT', '1', '-j', CHAIN], 'hooked in last, once the chain is complete');
});
