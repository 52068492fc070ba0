// The measuring client as a command, so a benchmark can run it inside a workstation namespace:
//   node measure-cli.js HOST PORT MIB FLOWS  → one JSON line {up, down, p50, p99, cps} (Gbit/s, ms)
import { download, gbit, newFlowLatency, upload } from './measure.js';

const [host, port, mib, flows] = process.argv.slice(2) as [string, string, string, string];
const target = { host, port: Number(port) };
const bytes = Number(mib) * 1024 * 1024;
await upload(target, 4 * 1024 * 1024); // warm-up
const up = gbit(await upload(target, bytes));
const down = gbit(await download(target, bytes));
const lat = await newFlowLatency(target, Number(flows));
console.log(JSON.stringify({ up, down, p50: lat.p50, p99: lat.p99, cps: lat.perSecond }));
process.exit(0);
