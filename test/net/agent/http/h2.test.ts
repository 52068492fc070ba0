// #13: HTTP/2 semantics through the agent with node:http2 and curl on loopback: h2c upgrade,
// RST_STREAM both ways, GOAWAY drain, PING, the client's SETTINGS, and no hang when an upstream
// does not speak HTTP/2 or goes silent (Telepresence issues 4055, 4056).
import test from 'ava';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:http2';
import { promisify } from 'node:util';
import { dialer, startAgent, startOrigin, waitFor, type Echo } from './harness.js';
import { freezableRelay, h2client, h2request, startH2Origin } from './h2-harness.js';

const run = promisify(execFile);
const filtered = (appPort: number, aOpen: () => Promise<import('node:stream').Duplex>) => ({
  app: dialer(appPort),
  intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' }, pathPrefix: '/' }, open: aOpen }],
  wiretaps: [],
});

test.serial(
  '#13 h2c upgrade (RFC 7540 §3.2): curl --http2 gets 101, the upgraded request is stream 1 and routed by its headers, later streams too',
  async (t) => {
    const app = await startH2Origin('app');
    const A = await startH2Origin('A');
    const ag = await startAgent({ engagements: filtered(app.port, dialer(A.port)) });
    try {
      const base = `http://127.0.0.1:${ag.port}`;
      // One curl, two URLs: the first upgrades the connection, the second is stream 3 on it.
      const { stdout } = await run('curl', [
        '-sS',
        '--max-time',
        '10',
        '--http2',
        '-H',
        'x-dev: alice',
        '-w',
        '\\n%{http_version}\\n',
        `${base}/one`,
        `${base}/two`,
      ]);
      const lines = stdout.trim().split('\n');
      const [one, v1, two, v2] = [JSON.parse(lines[0]!), lines[1], JSON.parse(lines[2]!), lines[3]];
      t.like(one, { who: 'A', path: '/one', dev: 'alice', authority: `127.0.0.1:${ag.port}` });
      t.like(two, { who: 'A', path: '/two' });
      t.deepEqual([v1, v2], ['2', '2']);
      t.is(ag.router.stats.h2.upgrades, 1);
      t.is(ag.router.stats.h2.connections, 1);
      const { stdout: plain } = await run('curl', ['-sS', '--max-time', '10', '--http2', `${base}/three`]);
      t.like(JSON.parse(plain), { who: 'app', path: '/three' });
    } finally {
      await ag.close();
      await Promise.all([app.close(), A.close()]);
    }
  },
);

test.serial(
  '#13 an h2c upgrade with a body is served as HTTP/1.1 without its upgrade fields, so no destination can switch protocols',
  async (t) => {
    const app = await startOrigin('app');
    const A = await startOrigin('A');
    const ag = await startAgent({ engagements: filtered(app.port, dialer(A.port)) });
    try {
      const { connect } = await import('node:net');
      const s = connect({ host: '127.0.0.1', port: ag.port });
      await once(s, 'connect');
      let got = '';
      s.on('data', (b: Buffer) => (got += b.toString('latin1')));
      s.write(
        'POST /up HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 3\r\n\r\nabc',
      );
      t.true(await waitFor(() => got.includes('"who"')));
      s.destroy();
      t.regex(got, /^HTTP\/1\.1 200/);
      const e = JSON.parse(got.slice(got.indexOf('{'))) as Echo;
      t.is(e.who, 'A');
      t.is(e.length, 3);
      const names = e.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      t.false(names.includes('upgrade'));
      t.false(names.includes('http2-settings'));
      t.is(ag.router.stats.h2.upgradesRefused, 1);
    } finally {
      await ag.close();
      app.server.close();
      A.server.close();
    }
  },
);

test.serial(
  '#13 RST_STREAM both ways: a client cancel reaches the destination as CANCEL; a destination reset reaches the client, protocol-level codes mapped to INTERNAL_ERROR',
  async (t) => {
    const app = await startH2Origin('app', (s, h) => {
      const code = Number(h['x-reset'] ?? -1);
      if (code >= 0) {
        // waitForTrailers: Node's close(code) ends the writable side first, which would otherwise
        // send END_STREAM before the RST_STREAM.
        s.respond({ ':status': 200 }, { waitForTrailers: true });
        s.write('partial');
        setTimeout(() => s.close(code), 20);
      } // else: never answers, waits for the client's reset
    });
    const A = await startH2Origin('A');
    const ag = await startAgent({ engagements: filtered(app.port, dialer(A.port)) });
    const c = h2client(ag.port);
    try {
      // Client → destination.
      const r = c.request({ ':path': '/wait' }, { endStream: true });
      r.on('error', () => {});
      t.true(await waitFor(() => app.sessions.length === 1));
      await new Promise((res) => setTimeout(res, 50));
      r.close(constants.NGHTTP2_CANCEL);
      t.true(await waitFor(() => app.closed.length === 1));
      t.deepEqual(app.closed, [constants.NGHTTP2_CANCEL]);
      t.is(ag.router.stats.h2.resetsFromClient, 1);
      // Destination → client: a code about the request passes; one about the hop is mapped.
      const calm = await h2request(c, { ':path': '/r', 'x-reset': String(constants.NGHTTP2_ENHANCE_YOUR_CALM) });
      t.is(calm.rstCode, constants.NGHTTP2_ENHANCE_YOUR_CALM);
      t.is(calm.body.toString(), 'partial');
      const proto = await h2request(c, { ':path': '/r', 'x-reset': String(constants.NGHTTP2_PROTOCOL_ERROR) });
      t.is(proto.rstCode, constants.NGHTTP2_INTERNAL_ERROR);
      t.is(ag.router.stats.h2.resetsFromUpstream, 2);
      // The connection survived all of it.
      t.like(await h2request(c, { ':path': '/ok', 'x-dev': 'alice' }), { status: 200 });
    } finally {
      c.close();
      await ag.close();
      await Promise.all([app.close(), A.close()]);
    }
  },
);

test.serial(
  '#13 GOAWAY from the app drains: the stream in flight finishes on the old session, the next one opens a new session; PING is answered',
  async (t) => {
    let release: (() => void) | undefined;
    const app = await startH2Origin('app', (s, h) => {
      if (h[':path'] === '/slow') {
        s.respond({ ':status': 200 });
        s.write('first ');
        release = () => s.end('last');
        return;
      }
      s.respond({ ':status': 200 });
      s.end('quick');
    });
    const A = await startH2Origin('A');
    const ag = await startAgent({ engagements: filtered(app.port, dialer(A.port)) });
    const c = h2client(ag.port);
    try {
      const slow = h2request(c, { ':path': '/slow' });
      t.true(await waitFor(() => release !== undefined));
      // The app shuts down gracefully: GOAWAY with the last stream it accepted.
      app.sessions[0]!.close();
      t.true(await waitFor(() => ag.router.stats.h2.sessions.goaways === 1));
      const quick = await h2request(c, { ':path': '/quick' });
      t.is(quick.body.toString(), 'quick');
      t.is(app.sessions.length, 2, 'a new session for the new stream');
      release!();
      const s = await slow;
      t.is(s.body.toString(), 'first last', 'the stream in flight finished on the draining session');
      t.is(s.rstCode, constants.NGHTTP2_NO_ERROR);
      const rtt = await new Promise<number>((resolve, reject) => c.ping((err, ms) => (err ? reject(err) : resolve(ms))));
      t.true(rtt >= 0);
    } finally {
      c.close();
      await ag.close();
      await Promise.all([app.close(), A.close()]);
    }
  },
);

test.serial(
  '#13 Telepresence 4056: an app that speaks only HTTP/1.1 gets no hang — the HTTP/2 client gets 502 at once, the intercept still works',
  async (t) => {
    const app = await startOrigin('app'); // node:http, HTTP/1.1 only
    const A = await startH2Origin('A');
    const ag = await startAgent({ engagements: filtered(app.port, dialer(A.port)) });
    const c = h2client(ag.port);
    try {
      const r = await h2request(c, { ':path': '/x' });
      t.is(r.status, 502);
      t.regex(r.body.toString(), /does not speak HTTP\/2/);
      t.like(await h2request(c, { ':path': '/x', 'x-dev': 'alice' }), { status: 200 });
      t.is(ag.router.stats.h2.unavailable, 1);
    } finally {
      c.close();
      await ag.close();
      app.server.close();
      await A.close();
    }
  },
);

test.serial(
  '#13 a workstation that goes silent (a frozen tunnel): its streams end after the PING timeout, the app’s streams are not affected',
  async (t) => {
    const app = await startH2Origin('app');
    const A = await startH2Origin('A', (s) => {
      s.respond({ ':status': 200 });
      s.write('hello'); // and never ends
    });
    const relay = await freezableRelay(A.port);
    const ag = await startAgent({ engagements: filtered(app.port, dialer(relay.port)), h2: { pingIntervalMs: 100, pingTimeoutMs: 300 } });
    const c = h2client(ag.port);
    try {
      const r = c.request({ ':path': '/a', 'x-dev': 'alice' }, { endStream: true });
      r.on('error', () => {});
      let body = '';
      r.on('data', (b: Buffer) => (body += b.toString()));
      await once(r, 'response');
      t.true(await waitFor(() => body === 'hello'));
      relay.freeze();
      await new Promise((res) => r.on('close', res));
      t.is(r.rstCode, constants.NGHTTP2_INTERNAL_ERROR, 'reset, never ended as if complete');
      t.is(ag.router.stats.h2.sessions.pingTimeouts, 1);
      t.like(await h2request(c, { ':path': '/b' }), { status: 200 });
    } finally {
      c.close();
      await ag.close();
      relay.close();
      await Promise.all([app.close(), A.close()]);
    }
  },
);

test.serial(
  '#13 the client’s SETTINGS_INITIAL_WINDOW_SIZE holds end to end: a client that does not read stops the app’s writes, and every byte arrives once it reads',
  async (t) => {
    const total = 32 * 1024 * 1024;
    let written = 0;
    let stalled = false;
    const app = await startH2Origin('app', (s, h) => {
      s.respond({ ':status': 200 });
      if (h[':path'] !== '/big') return void s.end('small');
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!s.write(chunk)) {
            stalled = true;
            return void s.once('drain', pump);
          }
        }
        s.end();
      };
      pump();
    });
    const A = await startH2Origin('A');
    const ag = await startAgent({ engagements: filtered(app.port, dialer(A.port)) });
    const c = h2client(ag.port, { settings: { initialWindowSize: 65_535 } });
    try {
      const r = c.request({ ':path': '/big' }, { endStream: true });
      r.pause();
      t.true(await waitFor(() => stalled));
      await new Promise((res) => setTimeout(res, 300));
      const before = written;
      t.true(before < total, `the app was held back (${before} of ${total} bytes written)`);
      // Another stream on the same connection is not held back by the paused one.
      t.like(await h2request(c, { ':path': '/other' }), { status: 200 });
      let got = 0;
      r.on('data', (b: Buffer) => (got += b.length));
      r.resume();
      await once(r, 'end');
      t.is(got, total);
    } finally {
      c.close();
      await ag.close();
      await Promise.all([app.close(), A.close()]);
    }
  },
);
