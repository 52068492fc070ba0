// #15: `tp gather-logs` archives, read back by the stock tools (tar, unzip).
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archive, archiveFormatOf, type ArchiveEntry } from '../../../lib/cli/archive.js';

const entries: ArchiveEntry[] = [
  { name: 'tp-gather-logs.json', data: Buffer.from('{"a":1}\n') },
  { name: 'workstation/logs/user-daemon.log', data: Buffer.from('x'.repeat(1500) + '\n') },
  { name: 'cluster/agents/dev/echo-5d9c7b8f4-abcde/tp-agent.log', data: Buffer.from('') },
  { name: `cluster/agents/${'n'.repeat(60)}/${'p'.repeat(63)}/tp-agent-init.previous.log`, data: Buffer.from('über\n') },
];

function tmp(t: { teardown(f: () => void): void }) {
  const d = mkdtempSync(join(tmpdir(), 'tp-archive-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('#15: .tar.gz extracts with tar to the same files and bytes (long names in the ustar prefix)', (t) => {
  const d = tmp(t);
  writeFileSync(join(d, 'a.tar.gz'), archive(entries, 'tar.gz'));
  execFileSync('tar', ['-xzf', 'a.tar.gz'], { cwd: d });
  for (const e of entries) t.deepEqual(readFileSync(join(d, e.name)), e.data, e.name);
});

const unzip = spawnSync('unzip', ['-v']).status === 0;
(unzip ? test : test.skip)(
  `#15: .zip passes unzip -t and extracts to the same files and bytes${unzip ? '' : ' [skipped: unzip is not installed]'}`,
  (t) => {
    const d = tmp(t);
    writeFileSync(join(d, 'a.zip'), archive(entries, 'zip'));
    t.regex(execFileSync('unzip', ['-t', 'a.zip'], { cwd: d, encoding: 'utf8' }), /No errors detected/);
    execFileSync('unzip', ['-q', 'a.zip'], { cwd: d });
    for (const e of entries) t.deepEqual(readFileSync(join(d, e.name)), e.data, e.name);
  },
);

test('#15: the format comes from the file name', (t) => {
  t.is(archiveFormatOf('x.zip'), 'zip');
  t.is(archiveFormatOf('x.tar.gz'), 'tar.gz');
  t.is(archiveFormatOf('x.tgz'), 'tar.gz');
  t.is(archiveFormatOf('x.tar'), undefined);
});
