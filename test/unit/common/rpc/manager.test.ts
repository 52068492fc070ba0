// Validators of the manager's seam (lib/common/rpc/manager.ts) for issue #16.
import test from 'ava';
import { MAX_MAPPED_NAMESPACES, managerApi } from '../../../../lib/common/rpc/manager.js';

const dns = (body: unknown) => managerApi.calls.dns(body);
const hello = (extra: Record<string, unknown>) =>
  managerApi.calls.hello({ session: 'alice-1', secret: 's'.repeat(32), peer: 'client', namespace: 'a', version: '0.1.0', ...extra });

test('#16: dns: any query type by mnemonic (any case) or TYPEnnn, as its mnemonic (RFC 3597 §5); A by default', (t) => {
  t.deepEqual(dns({ name: 'echo' }), { name: 'echo', type: 'A' });
  t.deepEqual(dns({ name: '_http._tcp.echo.a', type: 'srv' }), { name: '_http._tcp.echo.a', type: 'SRV' });
  t.deepEqual(dns({ name: 'x.a', type: 'TYPE16' }), { name: 'x.a', type: 'TXT' });
  t.deepEqual(dns({ name: 'x.a', type: 'TYPE65280' }), { name: 'x.a', type: 'TYPE65280' });
  t.deepEqual(dns({ name: '5.0.96.10.in-addr.arpa', type: 'PTR' }), { name: '5.0.96.10.in-addr.arpa', type: 'PTR' });
});

test('#16: dns: meta-types and zone transfers are no question (RFC 6895 §3.1); neither is garbage', (t) => {
  for (const type of ['AXFR', 'IXFR', 'OPT', 'TSIG', 'TYPE252', 'TYPE0', 'TYPE65536', 'A; rm -rf', 41, true]) {
    t.throws(() => dns({ name: 'echo', type }), { message: /type: must be a DNS query type/ }, String(type));
  }
  t.throws(() => dns({ name: 'not a name', type: 'A' }), { message: /is not a valid DNS name/ });
});

test('#16: hello: mapped namespaces are namespace names, at most 256, duplicates dropped; an empty list is none', (t) => {
  t.deepEqual(hello({ mappedNamespaces: ['a', 'b', 'a'] }).mappedNamespaces, ['a', 'b']);
  t.false('mappedNamespaces' in hello({ mappedNamespaces: [] }));
  t.false('mappedNamespaces' in hello({}));
  t.throws(() => hello({ mappedNamespaces: ['A'] }), { message: /mappedNamespaces\[0\]: "A" is not a valid namespace name/ });
  t.throws(() => hello({ mappedNamespaces: 'a,b' }), { message: /must be a list/ });
  t.throws(() => hello({ mappedNamespaces: Array.from({ length: MAX_MAPPED_NAMESPACES + 1 }, (_, i) => `n${i}`) }), {
    message: /at most 256/,
  });
});

test('#16: namespaces takes no arguments', (t) => {
  t.deepEqual(managerApi.calls.namespaces(undefined), {});
  t.throws(() => managerApi.calls.namespaces([1]));
});
