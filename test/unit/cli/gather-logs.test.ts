// #15: `tp gather-logs --since` keeps what was logged since then; the workstation's logs are
// collected with their rotated files.
import test from 'ava';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linesSince, parseSince, workstationLogs } from '../../../lib/cli/actions/gather-logs.js';

const line = (time: string, msg: string) => JSON.stringify({ time, level: 'info', msg });

test('#15: --since takes s, m, h and d; anything else is a flag error', (t) => {
  t.is(parseSince('30s'), 30);
  t.is(parseSince('15m'), 900);
  t.is(parseSince('2h'), 7200);
  t.is(parseSince('1d'), 86_400);
  t.throws(() => parseSince('yesterday'), { message: '--since "yesterday" is not a duration' });
});

test('#15: only lines at or after --since are kept; untimed lines go with the line before them', (t) => {
  const text = [
    line('2026-01-01T10:00:00.000Z', 'old'),
    'old stack frame',
    line('2026-01-01T11:00:00.000Z', 'new'),
    'new stack frame',
    '',
  ].join('\n');
  t.is(linesSince(text, new Date('2026-01-01T10:30:00Z')), `${line('2026-01-01T11:00:00.000Z', 'new')}\nnew stack frame\n`);
  t.is(linesSince(text, undefined), text);
});

test('#15: every file of the log directory is collected, rotated ones too; files untouched since --since are left out', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-gather-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'user-daemon.log'), line(new Date().toISOString(), 'now') + '\n');
  writeFileSync(join(dir, 'user-daemon.log.1'), line('2020-01-01T00:00:00.000Z', 'then') + '\n');
  utimesSync(join(dir, 'user-daemon.log.1'), new Date('2020-01-01'), new Date('2020-01-01'));
  writeFileSync(join(dir, 'root-daemon.stderr.log'), 'raw output\n');
  t.deepEqual(
    workstationLogs(dir, undefined).map((e) => e.name),
    ['workstation/logs/root-daemon.stderr.log', 'workstation/logs/user-daemon.log', 'workstation/logs/user-daemon.log.1'],
  );
  t.deepEqual(
    workstationLogs(dir, new Date(Date.now() - 3600_000)).map((e) => e.name),
    ['workstation/logs/root-daemon.stderr.log', 'workstation/logs/user-daemon.log'],
  );
  t.deepEqual(workstationLogs(join(dir, 'missing'), undefined), []);
});
