import test from 'ava';
import { CliError, describeError, errorDetails, exitCodeOf, parseOutput, table } from '../../../lib/cli/output.js';
import { TpError } from '../../../lib/common/errors.js';
import { DaemonCallError } from '../../../lib/common/rpc/daemon.js';

test('--output takes json and yaml; anything else is a flag error naming the choices', (t) => {
  t.is(parseOutput(undefined), 'default');
  t.is(parseOutput('json'), 'json');
  t.is(parseOutput('yaml'), 'yaml');
  t.throws(() => parseOutput('xml'), { message: '--output "xml" is not a format' });
});

test('tables align columns and leave no trailing spaces', (t) => {
  t.is(
    table(
      ['NAME', 'KIND'],
      [
        ['echo', 'Deployment'],
        ['a-longer-name', 'StatefulSet'],
      ],
    ),
    'NAME            KIND\necho            Deployment\na-longer-name   StatefulSet',
  );
});

test('#15: an error with a code prints as its sentence and hint; one without is "a bug" with no stack or library text', (t) => {
  const coded = Object.assign(new Error('no kubeconfig found (looked in /h/.kube/config)'), {
    code: 'E_NO_KUBECONFIG',
    hint: 'pass --kubeconfig FILE',
  });
  t.deepEqual(describeError(coded, '/l/cli.log'), {
    code: 'E_NO_KUBECONFIG',
    message: 'no kubeconfig found (looked in /h/.kube/config)',
    hint: 'pass --kubeconfig FILE',
  });
  const library = new Error('HTTP-Code: 500\nMessage: Unknown API Status Code!\nBody: "{}"\nHeaders: {"audit-id":"x"}');
  const shown = describeError(library, '/l/cli.log');
  t.is(shown.code, 'E_INTERNAL');
  t.is(shown.message, 'tp failed unexpectedly (a bug in tp: HTTP-Code: 500)');
  t.regex(shown.hint!, /\/l\/cli\.log.*--debug.*tp gather-logs/);
  t.notRegex(JSON.stringify(shown), /Headers|audit-id|at .*\.js/);
  t.regex(errorDetails(library), /Headers: \{"audit-id":"x"\}/, 'the details keep everything, for the log and --debug');
  // A daemon's error without a sentence of its own arrives as E_INTERNAL: a bug too, pointing at
  // the daemon's log, with its stack only as --debug detail.
  const fromDaemon = Object.assign(new Error("Cannot read properties of undefined (reading 'x')"), {
    code: 'E_INTERNAL',
    detail: 'TypeError: …\n    at f (daemon.js:1:1)',
  });
  t.regex(describeError(fromDaemon).message, /^tp failed unexpectedly \(a bug in tp: Cannot read properties/);
  t.regex(describeError(fromDaemon).hint!, /user-daemon\.log/);
  t.is(exitCodeOf(fromDaemon), 3);
  t.regex(errorDetails(fromDaemon), /daemon detail: TypeError/);
});

test('#15: system errors read as what failed and why; exit codes follow the code: 1 explained, 2 a flag, 3 a bug', (t) => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/nope/env'"), {
    code: 'ENOENT',
    syscall: 'open',
    path: '/nope/env',
    errno: -2,
  });
  t.deepEqual(describeError(enoent), { code: 'E_ENOENT', message: 'cannot open /nope/env: no such file or directory' });
  t.is(exitCodeOf(enoent), 1);
  t.is(exitCodeOf(new Error('boom')), 3, 'a bug exits 3');
  t.is(exitCodeOf(Object.assign(new Error('x'), { code: 'E_FLAG' })), 2);
  t.is(exitCodeOf(new CliError('E_FLAG', 'x')), 2);
  t.is(exitCodeOf(new TpError('E_INTERNAL', 'x')), 3);
});

test('#17: a daemon that is not running is a code, not an errno guess: E_NOT_RUNNING prints its sentence and hint and exits 1', (t) => {
  const down = new DaemonCallError(
    'E_NOT_RUNNING',
    'the user daemon is not running (nothing listens on /run/tp/user-daemon.sock)',
    'run `tp connect`',
  );
  t.deepEqual(describeError(down), {
    code: 'E_NOT_RUNNING',
    message: 'the user daemon is not running (nothing listens on /run/tp/user-daemon.sock)',
    hint: 'run `tp connect`',
  });
  t.is(exitCodeOf(down), 1);
  t.is(
    describeError(
      TpError.fromWire({ error: 'E_NOT_RUNNING', message: 'the user daemon is not running' }, { code: 'E_DAEMON', message: '' }),
    ).hint,
    'run `tp connect`',
    'a hint by code when the error came without one',
  );
  // A connect error that reached the printer without a code is no longer read as "not running".
  const raw = Object.assign(new Error('connect ENOENT /elsewhere.sock'), { code: 'ENOENT', syscall: 'connect' });
  t.not(describeError(raw).code, 'E_NOT_RUNNING');
});
