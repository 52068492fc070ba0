// #15: log files are rotated by size; two writers of one file do not rotate it twice.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, rotateFiles, rotateIfLarge } from '../../../lib/common/log.js';

const tmp = (t: { teardown(f: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

test('#15: past maxBytes the log becomes FILE.1 and a new FILE starts; no line is lost or split', (t) => {
  const file = join(tmp(t), 'd.log');
  const log = createLogger({ file, maxBytes: 1000, keep: 3 });
  for (let i = 0; i < 30; i++) log.info('line', { i, pad: 'x'.repeat(50) });
  const files = [file, `${file}.1`, `${file}.2`, `${file}.3`].filter(existsSync);
  t.true(files.length >= 3, `rotated: ${files.join(', ')}`);
  for (const f of files) t.true(statSync(f).size <= 1000, `${f} stays within the limit`);
  t.false(existsSync(`${file}.4`), 'only `keep` rotated files are kept');
  // The newest lines are in FILE, older ones in FILE.1, …, each a whole JSON line.
  const seen = files
    .reverse()
    .flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'))
    .map((l) => (JSON.parse(l) as { i: number }).i);
  t.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
    'in order across files',
  );
  t.is(seen[seen.length - 1], 29);
});

test('#15: rotateFiles shifts FILE.n up and drops the oldest', (t) => {
  const dir = tmp(t);
  const f = join(dir, 'a.log');
  for (const [name, text] of [
    ['a.log', '0'],
    ['a.log.1', '1'],
    ['a.log.2', '2'],
  ] as const)
    writeFileSync(join(dir, name), text);
  rotateFiles(f, 2);
  t.deepEqual(readdirSync(dir).sort(), ['a.log.1', 'a.log.2']);
  t.is(readFileSync(`${f}.1`, 'utf8'), '0');
  t.is(readFileSync(`${f}.2`, 'utf8'), '1');
});

test('#15: rotateIfLarge rotates only a file over the limit (captured daemon output, before a start)', (t) => {
  const dir = tmp(t);
  const f = join(dir, 'out.log');
  writeFileSync(f, 'small');
  rotateIfLarge(f, 100);
  t.false(existsSync(`${f}.1`));
  writeFileSync(f, 'x'.repeat(200));
  rotateIfLarge(f, 100);
  t.true(existsSync(`${f}.1`));
  t.false(existsSync(f));
  t.notThrows(() => rotateIfLarge(join(dir, 'missing.log'), 100));
});

test('#15: two loggers on one file (guardian and worker): the limit holds and a file the other one rotated is not rotated again', (t) => {
  const file = join(tmp(t), 'root.log');
  const a = createLogger({ file, maxBytes: 600, keep: 20, fields: { role: 'a' } });
  const b = createLogger({ file, maxBytes: 600, keep: 20, fields: { role: 'b' } });
  for (let i = 0; i < 20; i++) {
    a.info('x', { i, pad: 'y'.repeat(40) });
    b.info('x', { i, pad: 'y'.repeat(40) });
  }
  const files = [file, ...Array.from({ length: 20 }, (_, n) => `${file}.${n + 1}`)].filter(existsSync);
  const lines = files.flatMap((f) => readFileSync(f, 'utf8').trim().split('\n').filter(Boolean));
  // Every line is whole and every line survives: none was renamed away twice (a double rotation
  // would push a file past `keep` or overwrite one); and each file stays within the limit although two
  // writers append to it.
  for (const l of lines) t.notThrows(() => JSON.parse(l));
  t.is(lines.length, 40);
  for (const f of files) t.true(statSync(f).size <= 600, `${f}: ${statSync(f).size} bytes`);
});
