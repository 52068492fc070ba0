import test from 'ava';
import { describeError, errorDetails, exitCodeOf, parseOutput, table } from '../../../lib/cli/output.js';

test('--output takes json and yaml; anything else is a flag error naming the choices', (t) => {
  t.is(parseOutput(undefined), 'default');
  t.is(parseOutput('json'), 'json');
  t.is(parseOutput('yaml'), 'yaml');
  t.throws(() => parseOutput('xml'), { message: '--output "xml" is not a format' });
});

test('tables align columns and leave no trailing spaces', (t) => {
  t.is(table(['NAME', 'KIND'], [['echo', 'Deployment'], ['a-longer-name', 'StatefulSet']]), 'NAME            KIND\necho            Deployment\na-longer-name   StatefulSet');
});

test('#15: an error with a code prints as its sentence and hint; one without is "a bug" with no stack or library text', (t) => {
  const coded = Object.assign(new Error('no kubeconfig found (looked in /h/.kube/config)'), { code: 'E_NO_KUBECONFIG', hint: 'pass --kubeconfig FILE' });
  t.deepEqual(describeError(coded, '/l/cli.log'), { code: 'E_NO_KUBECONFIG', message: 'no kubeconfig found (looked in /h/.kube/config)', hint: 'pass --kubeconfig FILE' });
  const library = new Error('HTTP-Code: 500\nMessage: Unknown API Status Code!\nBody: "{}"\nHeaders: {"audit-id":"x"}');
  const shown = describeError(library, '/l/cli.log');
  t.is(shown.code, 'E_INTERNAL');
  t.is(shown.message, 'tp failed unexpectedly (a bug in tp: HTTP-Code: 500)');
  t.regex(shown.hint!, /\/l\/cli\.log.*--debug.*tp gather-logs/);
  t.notRegex(JSON.stringify(shown), /Headers|audit-id|at .*\.js/);
  t.regex(errorDetails(library), /Headers: \{"audit-id":"x"\}/, 'the details keep everything, for the log and --debug');
  // A daemon's error without a sentence of its own arrives as E_INTERNAL: a bug too, pointing at
  // the daemon's log, with its stack only as --debug detail.
  const fromDaemon = Object.assign(new Error('Cannot read properties of undefined (reading \'x\')'), { code: 'E_INTERNAL', detail: 'TypeError: …\n    at f (daemon.js:1:1)' });
  t.regex(describeError(fromDaemon).message, /^tp failed unexpectedly \(a bug in tp: Cannot read properties/);
  t.regex(describeError(fromDaemon).hint!, /user-daemon\.log/);
  t.is(exitCodeOf(fromDaemon), 3);
  t.regex(errorDetails(fromDaemon), /daemon detail: TypeError/);
});

test('#15: system errors read as what failed and why; a missing daemon socket means the daemon is not running', (t) => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/nope/env'"), { code: 'ENOENT', syscall: 'open', path: '/nope/env', errno: -2 });
  t.deepEqual(describeError(enoent), { code: 'E_ENOENT', message: 'cannot open /nope/env: no such file or directory' });
  const gone = Object.assign(new Error('connect ENOENT /run/tp/user-daemon.sock'), { code: 'ENOENT', syscall: 'connect' });
  t.is(describeError(gone).message, 'the user daemon is not running');
  t.is(exitCodeOf(gone), 1);
  t.is(exitCodeOf(new Error('boom')), 3, 'a bug exits 3');
  t.is(exitCodeOf(Object.assign(new Error('x'), { code: 'E_FLAG' })), 2);
});
