// Processes of the tier-2 pod for ports taken over by name (issue #16), started inside namespaces
// with `ip netns exec` or `unshare -m` (a Node process cannot enter one itself):
//   app                  HTTP on 0.0.0.0:8080 answering "app"
//   forwarder            the agent's Forwarder for the ports of env TP_AGENT_CONFIG, whose
//                        engagements dial a local "workstation" HTTP server; each IPC message
//                        {engagements} is an update, answered {updated: true}
//   sftp ROOT [--ro]     the agent's serveSftp on this process's stdin and stdout
// The first two send {ready, uid, tmp} once listening: tmp is what creating a file in the temp
// directory gave (true, or the error code), for tests that run them without a writable one.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttp } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { Forwarder } from '../../../../lib/agent/forwarder.js';
import { serveSftp } from '../../../../lib/agent/sftp.js';
import { parseAgentConfig } from '../../../../lib/common/agent-config.js';
import { createLogger, silentLogger } from '../../../../lib/common/log.js';

const [role, ...args] = process.argv.slice(2);

async function tmpWritable(): Promise<true | string> {
  try {
    await rm(await mkdtemp(join(tmpdir(), 'tp-probe-')), { recursive: true });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

function http(port: number, host: string, answer: string): Promise<number> {
  const s = createHttp((_req, res) => res.end(answer));
  return new Promise((resolve) => s.listen(port, host, () => resolve((s.address() as AddressInfo).port)));
}

if (role === 'app') {
  await http(8080, '0.0.0.0', 'app');
  process.send!({ ready: true, uid: process.getuid!(), tmp: await tmpWritable() });
} else if (role === 'forwarder') {
  const config = parseAgentConfig(process.env['TP_AGENT_CONFIG'] ?? '');
  const workstation = await http(0, '127.0.0.1', 'workstation');
  const fwd = new Forwarder({
    ports: config.ports,
    dial: () =>
      new Promise<Duplex>((resolve, reject) => {
        const s = connect(workstation, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      }),
    log: silentLogger,
  });
  await fwd.listen();
  process.on('message', (m: { engagements: Parameters<Forwarder['update']>[0] }) => {
    fwd.update(m.engagements);
    process.send!({ updated: true });
  });
  process.send!({ ready: true, uid: process.getuid!(), tmp: await tmpWritable() });
} else if (role === 'sftp') {
  const stream = Duplex.from({ readable: process.stdin, writable: process.stdout });
  await serveSftp(stream, {
    root: args[0]!,
    readOnly: args[1] === '--ro',
    log: createLogger({ level: 'debug', fields: { uid: process.getuid!() } }),
  });
  process.exit(0);
} else {
  throw new Error(`unknown role ${role}`);
}
// The namespace's teardown kills us; stop too if the test process goes away.
process.on('disconnect', () => process.exit(0));
