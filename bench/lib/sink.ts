// The far end of every benchmark flow: a TCP server that, per connection, reads one command line
//   "UP <bytes>\n"   → reads that many bytes, answers "OK\n"      (upload throughput)
//   "DOWN <bytes>\n" → writes that many bytes, then closes          (download throughput)
//   "PING\n"         → answers "PONG\n" and closes                  (new-flow latency)
// It is also shipped as a `node -e` script for a pod (SINK_SOURCE), so both ends run the same code.

export const SINK_SOURCE = `
const net = require('node:net');
const CHUNK = Buffer.alloc(256 * 1024, 120);
net.createServer((s) => {
  s.setNoDelay(true);
  let head = Buffer.alloc(0);
  const onData = (d) => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    s.off('data', onData);
    const [cmd, arg] = head.subarray(0, nl).toString().split(' ');
    const rest = head.subarray(nl + 1);
    if (cmd === 'PING') return s.end('PONG\\n');
    const total = Number(arg);
    if (cmd === 'UP') {
      let got = rest.length;
      const done = () => { if (got >= total) { s.removeAllListeners('data'); s.end('OK\\n'); } };
      s.on('data', (c) => { got += c.length; done(); });
      return done();
    }
    if (cmd === 'DOWN') {
      let left = total;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return s.once('drain', pump);
        }
        s.end();
      };
      return pump();
    }
    s.destroy();
  };
  s.on('data', onData);
  s.on('error', () => {});
}).listen(Number(process.env.SINK_PORT || 9000), process.env.SINK_HOST || '0.0.0.0');
`;
