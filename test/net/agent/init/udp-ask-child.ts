// One UDP question from inside a namespace: `node udp-ask-child.js HOST PORT`; prints the answer,
// or "timeout" after 2 s (the test asserts on it, a lost datagram must not hang the test).
import { createSocket } from 'node:dgram';

const [host, port] = [process.argv[2]!, Number(process.argv[3])];
const s = createSocket('udp4');
const timer = setTimeout(() => {
  process.stdout.write('timeout');
  s.close();
}, 2000);
s.on('message', (msg) => {
  clearTimeout(timer);
  process.stdout.write(msg.toString());
  s.close();
});
s.send('who?', port, host);
