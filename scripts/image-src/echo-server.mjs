// The echo workload of tests and the demo: answers every HTTP request with the pod's name, the
// request line and the headers, so a test can tell which process answered and what it was sent.
// PORTS (comma-separated, default 8080) lists the ports it serves; each answer names the port.
import http from 'node:http';
import os from 'node:os';

const podName = process.env.POD_NAME || os.hostname();
const ports = (process.env.PORTS || '8080').split(',').map((p) => Number(p.trim()));

for (const port of ports) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const lines = [`pod: ${podName}`, `port: ${port}`, `${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      const body = Buffer.concat(chunks);
      if (body.length > 0) lines.push('', body.toString('utf8'));
      res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': podName });
      res.end(lines.join('\n') + '\n');
    });
  });
  server.listen(port, () => console.log(JSON.stringify({ msg: 'echo listening', port, pod: podName })));
}

process.on('SIGTERM', () => process.exit(0));
