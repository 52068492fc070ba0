// A tunnel server in its own process, so that throughput and memory tests measure the relay on
// its own core and its own heap. Talks to the parent over IPC:
//   → { port }                      once listening
//   ← { cmd: 'mem' } → { mem: NodeJS.MemoryUsage } (after a GC when --expose-gc is on)
// Exits when the parent disconnects.

import { DirectDialer } from '../../../../lib/proxy/direct-dialer.js';
import { TunnelServer } from '../../../../lib/proxy/tunnel/server.js';

const server = new TunnelServer({ dialer: new DirectDialer({ connectTimeoutMs: 2000 }) });
const { port } = await server.listen(0, '127.0.0.1');
process.send!({ port });
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'mem') {
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ mem: process.memoryUsage() });
  }
});
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0));
});
