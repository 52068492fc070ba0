// Programs the cluster benchmarks run inside pods (the tp image has node, not the benchmarks), as
// `node -e` sources: an HTTP app to put an agent in front of, and the measuring clients that run
// beside it in the cluster. They speak bench/lib/sink.ts's protocol (UP/DOWN/PING) or HTTP.

/** An HTTP app: GET /small answers "app"; GET /bytes/N answers N bytes. */
export const APP_SOURCE = `
const http = require('node:http');
const CHUNK = Buffer.alloc(256 * 1024, 120);
http.createServer((q, r) => {
  const m = /^\\/bytes\\/(\\d+)/.exec(q.url);
  if (!m) { q.resume(); return r.end('app'); }
  let left = Number(m[1]);
  r.writeHead(200, { 'content-length': left });
  const pump = () => { while (left > 0) { const n = Math.min(left, CHUNK.length); left -= n; if (!r.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return r.once('drain', pump); } r.end(); };
  pump();
}).listen(8080);
`;

/** argv: HOST PORT MIB → one JSON line {up, down} in Gbit/s, through the sink protocol. */
export const SINK_CLIENT_SOURCE = `
const net = require('node:net');
const [host, port, mib] = process.argv.slice(1);
const bytes = Number(mib) * 1024 * 1024;
const chunk = Buffer.alloc(256 * 1024, 97);
function flow() { return new Promise((res, rej) => { const s = net.connect(Number(port), host); s.setNoDelay(true); s.once('connect', () => res(s)); s.once('error', rej); }); }
async function up() {
  const s = await flow(); const t0 = process.hrtime.bigint(); s.write('UP ' + bytes + '\\n');
  let left = bytes; while (left > 0) { const n = Math.min(left, chunk.length); left -= n; if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await new Promise((r) => s.once('drain', r)); }
  await new Promise((r) => { let got = 0; s.on('data', (c) => { got += c.length; if (got >= 3) r(); }); s.once('end', r); });
  s.destroy(); return bytes / (Number(process.hrtime.bigint() - t0) / 1e9);
}
async function down() {
  const s = await flow(); const t0 = process.hrtime.bigint(); s.write('DOWN ' + bytes + '\\n');
  await new Promise((r) => { let got = 0; s.on('data', (c) => { got += c.length; if (got >= bytes) r(); }); s.once('end', r); });
  s.destroy(); return bytes / (Number(process.hrtime.bigint() - t0) / 1e9);
}
(async () => { const u = await up(); const d = await down(); console.log(JSON.stringify({ up: u * 8 / 1e9, down: d * 8 / 1e9 })); process.exit(0); })().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
`;

/** argv: URL KA NEW MIB → one JSON line: keep-alive GET p50/p99 (ms), new-connection GET
 * p50/p99 (ms), download of MIB Gbit/s — what the app's own clients see. */
export const HTTP_CLIENT_SOURCE = `
const http = require('node:http');
const [url, ka, fresh, mib] = process.argv.slice(1);
const u = new URL(url);
function get(path, agent) { return new Promise((res, rej) => { const t0 = process.hrtime.bigint(); const q = http.get({ host: u.hostname, port: u.port || 80, path, agent }, (r) => { let n = 0; r.on('data', (c) => (n += c.length)); r.on('end', () => res({ ms: Number(process.hrtime.bigint() - t0) / 1e6, n })); }); q.on('error', rej); }); }
const pct = (a, q) => { a.sort((x, y) => x - y); return a[Math.min(a.length - 1, Math.floor(q * a.length))]; };
(async () => {
  const keep = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 20; i++) await get('/small', keep);
  const kas = []; for (let i = 0; i < Number(ka); i++) kas.push((await get('/small', keep)).ms);
  const news = []; for (let i = 0; i < Number(fresh); i++) news.push((await get('/small', false)).ms);
  const bytes = Number(mib) * 1024 * 1024;
  const big = await get('/bytes/' + bytes, keep);
  if (big.n !== bytes) throw new Error('short download ' + big.n);
  keep.destroy();
  console.log(JSON.stringify({ kaP50: pct(kas, 0.5), kaP99: pct(kas, 0.99), newP50: pct(news, 0.5), newP99: pct(news, 0.99), down: bytes * 8 / 1e9 / (big.ms / 1000) }));
  process.exit(0);
})().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
`;

/** argv: URL → prints "<epoch ms> <first word of the body>" for a GET every 20 ms, for ever (the
 * benchmark kills it): who answers a Service, and from when. */
export const WATCH_SOURCE = `
const http = require('node:http');
const url = process.argv[1];
const agent = new http.Agent({ keepAlive: false });
const tick = () => { const q = http.get(url, { agent }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => { process.stdout.write(Date.now() + ' ' + b.trim().split(/\\s/)[0] + '\\n'); setTimeout(tick, 20); }); }); q.on('error', () => setTimeout(tick, 20)); q.setTimeout(2000, () => q.destroy()); };
tick();
`;
