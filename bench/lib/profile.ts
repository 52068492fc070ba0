// Reading a V8 CPU profile (node --cpu-prof): self time by function and by file, the table the
// benches print beside their numbers.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** Self time per function and per file of a .cpuprofile (V8 CPU profile JSON). */
export function summarise(file: string, top = 12): string[] {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const us = Math.max(0, p.timeDeltas[i] ?? 0);
    const cf = byId.get(id)!.callFrame;
    total += us;
    const where = cf.url ? `${basename(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + us);
    const f = cf.url ? cf.url.replace(/^file:\/\/.*?\/dist\//, '').replace(/^node:/, 'node:') : cf.functionName;
    files.set(f, (files.get(f) ?? 0) + us);
  });
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)} %`;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `  total ${(total / 1e6).toFixed(1)} s sampled`,
    '  self time by function:',
    ...sorted(fn).map(([k, us]) => `    ${pct(us).padStart(7)}  ${k}`),
    '  self time by file:',
    ...sorted(files).map(([k, us]) => `    ${pct(us).padStart(7)}  ${k}`),
  ];
}
