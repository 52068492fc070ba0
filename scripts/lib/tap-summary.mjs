// Counts the results of all tiers' TAP files and prints the closing line CI reads, exactly
// "N passed, N failed". Before it: the skipped tests (their titles carry the reason) and
// "N skipped". Exits non-zero when anything failed or a tier's runner crashed without reporting.
import { readFileSync } from 'node:fs';

const SHOW_SKIPPED = 20;
let passed = 0,
  failed = 0,
  crashed = 0;
const skipped = [];
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (/^ok \d+/.test(line)) {
      if (/# (SKIP|TODO)/i.test(line)) skipped.push(line);
      else passed++;
    } else if (/^not ok \d+/.test(line)) {
      if (/# TODO/i.test(line)) skipped.push(line);
      else failed++;
    } else if (line.startsWith('Bail out')) {
      crashed++;
    }
  }
  if (!/^1\.\.\d+/m.test(text)) crashed++;
}
if (crashed > 0) console.log(`${crashed} test file(s) or tiers crashed before reporting (see above)`);
for (const line of skipped.slice(0, SHOW_SKIPPED)) {
  console.log(`  skipped: ${line.replace(/^(not )?ok \d+ - /, '').replace(/\s*# (SKIP|TODO).*$/i, '')}`);
}
if (skipped.length > SHOW_SKIPPED) console.log(`  … and ${skipped.length - SHOW_SKIPPED} more`);
console.log(`${skipped.length} skipped`);
console.log(`${passed} passed, ${failed + crashed} failed`);
process.exit(failed + crashed > 0 ? 1 : 0);
