import test from 'ava';
import { parseHostPort } from '../../../lib/user/connection.js';

test('--socks accepts HOST:PORT, [IPv6]:PORT and a bare port', (t) => {
  t.deepEqual(parseHostPort('127.0.0.1:1080', '--socks'), { host: '127.0.0.1', port: 1080 });
  t.deepEqual(parseHostPort('[::1]:9050', '--socks'), { host: '::1', port: 9050 });
  t.deepEqual(parseHostPort('1081', '--socks'), { host: '127.0.0.1', port: 1081 });
});

test('--socks rejects what is not an address with a sentence naming the flag', (t) => {
  t.throws(() => parseHostPort('localhost', '--socks'), { message: /--socks "localhost" is not HOST:PORT/ });
  t.throws(() => parseHostPort('127.0.0.1:70000', '--socks'), { message: /out of range/ });
});

test('#16: a connection namespace outside --mapped-namespaces is refused before anything is done, with both ways out', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { Connection } = await import('../../../lib/user/connection.js');
  const { silentLogger } = await import('../../../lib/common/log.js');
  const dir = mkdtempSync(join(tmpdir(), 'tp-conn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'config');
  // An unreachable server: the refusal must come before any request would.
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://192.0.2.1:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: team-c}}]\ncurrent-context: x\n',
  );
  const err = await t.throwsAsync(
    Connection.open({ kubeconfig, socks: '127.0.0.1:1080', mappedNamespaces: ['team-a', 'team-b'] }, silentLogger),
  );
  t.is((err as { code?: string }).code, 'E_FLAG');
  t.is(err!.message, "the connection's namespace team-c is not one of --mapped-namespaces (team-a, team-b)");
  t.is((err as { hint?: string }).hint, 'pass -n team-a, or add team-c to --mapped-namespaces');
});
