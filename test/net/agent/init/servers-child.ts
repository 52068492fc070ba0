// Servers of the tier-2 pod: started inside a namespace with `ip netns exec` (a Node process
// cannot enter one itself). Each answers with its role, so a test sees who got the request.
//   pod:    app HTTP 8080 "app", agent HTTP 9900 "agent", app UDP 5353 "app", agent UDP 9901 "agent"
//   client: HTTP 8080 "client" (a server outside the pod on the app's port, for outbound traffic)
// Sends {ready: true} over IPC once every socket listens.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

const role = process.argv[2];

function http(port: number, answer: string): Promise<void> {
  const s = createServer((_req, res) => res.end(answer));
  return new Promise((resolve) => s.listen(port, '0.0.0.0', resolve));
}

function udp(port: number, answer: string): Promise<void> {
  const s = createSocket('udp4');
  s.on('message', (_msg, from) => s.send(answer, from.port, from.address));
  return new Promise((resolve) => s.bind(port, '0.0.0.0', resolve));
}

if (role === 'pod') {
  await Promise.all([http(8080, 'app'), http(9900, 'agent'), udp(5353, 'app'), udp(9901, 'agent')]);
} else {
  await http(8080, 'client');
}
process.send!({ ready: true });
// The namespace's teardown kills us; stop too if the test process goes away.
process.on('disconnect', () => process.exit(0));
