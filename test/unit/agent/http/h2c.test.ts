// #13: the h2c upgrade's pure parts (RFC 7540 §3.2): which requests upgrade, stream 1's HEADERS,
// and the preface handed to the server session, checked by decoding them with node:http2 itself.
import test from 'ava';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http2';
import { connect, type AddressInfo } from 'node:net';
import {
  asksH2c,
  frame,
  H2_MAGIC,
  h2cUpgradable,
  h2RequestFields,
  spliceUpgradePreface,
  stream1Headers,
  withoutUpgrade,
} from '../../../../lib/agent/http/h2c.js';
import { parseRequestHead } from '../../../../lib/agent/http/parse.js';

const SETTINGS = 'AAMAAABkAAQCAAAAAAIAAAAA'; // curl's: 100 streams, 32 MiB window, no push
const head = (extra: string, method = 'GET', target = '/p?q=1') =>
  parseRequestHead(Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: svc:80\r\n${extra}\r\n`));
const upgrade = `Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: ${SETTINGS}\r\n`;

test('h2c: a bodiless request with Connection, Upgrade and one HTTP2-Settings upgrades (RFC 7540 §3.2.1)', (t) => {
  const h = head(upgrade);
  t.true(asksH2c(h));
  const ok = h2cUpgradable(h, false);
  t.true('settings' in ok && ok.settings.length === 18);
  t.like(h2cUpgradable(h, true), { refuse: 'the request has a body' });
  t.true(
    'refuse' in h2cUpgradable(head('Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAAA\r\n'), false),
    'Connection must list HTTP2-Settings',
  );
  t.true('refuse' in h2cUpgradable(head(upgrade + `HTTP2-Settings: ${SETTINGS}\r\n`), false), 'two HTTP2-Settings');
  t.true(
    'refuse' in h2cUpgradable(head('Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAA\r\n'), false),
    'not a multiple of 6 bytes',
  );
  t.false(asksH2c(head('Connection: Upgrade\r\nUpgrade: websocket\r\n')));
});

test('h2c: stream 1 carries the request as HTTP/2 fields, without hop-by-hop fields (RFC 9113 §8.2.2)', (t) => {
  const fields = h2RequestFields(head(upgrade + 'X-Dev: alice\r\nTE: gzip\r\nKeep-Alive: 5\r\n'));
  t.deepEqual(fields, [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':authority', 'svc:80'],
    [':path', '/p?q=1'],
    ['x-dev', 'alice'],
  ]);
  const abs = h2RequestFields(head(upgrade, 'GET', 'http://other:81/a'));
  t.deepEqual(abs.slice(2, 4), [
    [':authority', 'other:81'],
    [':path', '/a'],
  ]);
  t.is(stream1Headers(head(upgrade + `X-Big: ${'a'.repeat(20_000)}\r\n`), 16_384), undefined, 'too large for one frame: not upgraded');
});

test('h2c: the preface handed on is the magic, one merged SETTINGS, stream 1 and the rest; node:http2 reads it as a request', async (t) => {
  const h = head(upgrade + 'x-dev: alice\r\n');
  const ok = h2cUpgradable(h, false) as { settings: Buffer };
  const h1 = stream1Headers(h, 16_384)!;
  const clientSettings = frame(0x4, 0, 0, Buffer.from([0, 4, 0, 1, 0, 0])); // INITIAL_WINDOW_SIZE 65536
  const after = frame(0x8, 0, 0, Buffer.from([0, 0, 0x10, 0])); // WINDOW_UPDATE
  const sent = Buffer.concat([H2_MAGIC, clientSettings, after]);
  t.is(spliceUpgradePreface(sent.subarray(0, 10), ok.settings, h1), 'more');
  t.is(spliceUpgradePreface(sent.subarray(0, 30), ok.settings, h1), 'more');
  t.true(spliceUpgradePreface(Buffer.from('GET / HTTP/1.1\r\n\r\n'), ok.settings, h1) instanceof Error);
  t.true(spliceUpgradePreface(Buffer.concat([H2_MAGIC, after]), ok.settings, h1) instanceof Error, 'the first frame must be SETTINGS');
  const out = spliceUpgradePreface(sent, ok.settings, h1) as Buffer;
  t.true(Buffer.isBuffer(out));
  // One SETTINGS frame whose payload is the upgrade's values, then the preface's (§6.5.3 order).
  const s = out.subarray(H2_MAGIC.length);
  t.is(s[3], 0x4);
  t.is(s.readUIntBE(0, 3), 18 + 6);

  // Decode it with Node's own server session, over loopback as the agent would hand it on.
  const server = createServer();
  const got = new Promise<{ headers: IncomingHttpHeaders; id: number; flags: number }>((resolve) =>
    server.on('stream', (st, headers, flags) => {
      resolve({ headers, id: st.id!, flags });
      st.respond({ ':status': 204 });
      st.end();
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sock = connect((server.address() as AddressInfo).port, '127.0.0.1');
  sock.on('error', () => {});
  sock.resume();
  sock.write(out);
  const r = await got;
  t.is(r.id, 1);
  t.like(r.headers, { ':method': 'GET', ':path': '/p?q=1', ':authority': 'svc:80', 'x-dev': 'alice' });
  t.is(r.flags & 0x1, 0x1, 'END_STREAM: stream 1 is half-closed (remote)');
  sock.destroy();
  server.close();
});

test('h2c: a request served as HTTP/1.1 loses Upgrade and HTTP2-Settings, nothing else', (t) => {
  const raw = Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\n${upgrade}Content-Length: 3\r\n\r\n`);
  t.is(withoutUpgrade(raw).toString(), 'POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nContent-Length: 3\r\n\r\n');
});
