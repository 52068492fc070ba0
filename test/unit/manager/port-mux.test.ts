import test from 'ava';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createPortMux } from '../../../lib/manager/port-mux.js';

test('the HTTP/2 preface goes to one handler, HTTP/1 to the other, bytes intact', async (t) => {
  const seen: Array<[string, string]> = [];
  const take = (kind: string) => (s: Socket) => {
    if (kind === 'h2') s.resume();
    let data = '';
    s.on('data', (c: Buffer) => {
      data += c.toString();
      if (data.includes('\r\n\r\n')) {
        seen.push([kind, data]);
        s.end();
      }
    });
  };
  const server = createPortMux(take('h2'), take('http1'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const send = async (chunks: string[]) => {
    const c = connect(port, '127.0.0.1');
    c.resume();
    // The handler may answer and close before the last chunk's pause is over.
    const closed = new Promise((r) => c.once('close', r));
    await new Promise((r) => c.once('connect', r));
    for (const ch of chunks) {
      c.write(ch);
      await new Promise((r) => setTimeout(r, 10));
    }
    await closed;
  };
  await send(['PR', 'I * HTTP/2.0\r\n\r\nSM\r\n\r\n']);
  await send(['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.deepEqual(seen, [['h2', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'], ['http1', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']]);
});
