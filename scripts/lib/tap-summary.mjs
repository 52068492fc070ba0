// Counts the results of all tiers' TAP files and prints the closing line CI reads:
// "N passed, N failed" (", N skipped" when some were). Exits non-zero when anything failed
// or a tier's runner crashed without reporting.
import { readFileSync } from 'node:fs';

let passed = 0, failed = 0, skipped = 0, crashed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (/^ok \d+/.test(line)) {
      if (/# (SKIP|TODO)/i.test(line)) skipped++;
      else passed++;
    } else if (/^not ok \d+/.test(line)) {
      if (/# TODO/i.test(line)) skipped++;
      else failed++;
    } else if (line.startsWith('Bail out')) {
      crashed++;
    }
  }
  if (!/^1\.\.\d+/m.test(text)) crashed++;
}
if (crashed > 0) console.log(`${crashed} test file(s) or tiers crashed before reporting (see above)`);
console.log(`${passed} passed, ${failed + crashed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed + crashed > 0 ? 1 : 0);
