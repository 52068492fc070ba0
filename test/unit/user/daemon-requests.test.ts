// The user daemon's request schemas (lib/user/daemon.ts), issue #17: what the CLI sends passes
// unchanged, a bad field is refused with its path, a flag's fault with E_FLAG and the flag's name.
import test from 'ava';
import { checkDaemonRequest } from '../../../lib/user/daemon.js';
import { TpError } from '../../../lib/common/errors.js';

const refusal = (t: import('ava').ExecutionContext, fn: () => unknown) => t.throws(fn, { instanceOf: TpError }) as TpError;

test('#17: connect: a request as the CLI builds it passes unchanged', (t) => {
  const req = {
    kubeconfigEnv: '/home/a/.kube/config',
    namespace: 'default',
    managerNamespace: 'tp-system',
    mappedNamespaces: ['a', 'b'],
    alsoProxy: ['10.1.0.0/16'],
    neverProxy: [],
    allowConflictingSubnets: true,
    vnat: ['all'],
    dnsIncludeSuffixes: ['.corp'],
    dnsExcludeSuffixes: [],
    socksUser: 'u',
    socksPassword: 'p',
    managerAddress: 'm.example:8443',
  };
  t.deepEqual(checkDaemonRequest('connect', req), req);
  t.deepEqual(checkDaemonRequest('connect', {}), {});
});

test('#17: connect: mapped namespaces deduplicated, an empty list is none, allowConflictingSubnets false is absent', (t) => {
  t.deepEqual(checkDaemonRequest('connect', { mappedNamespaces: ['a', 'b', 'a'] }), { mappedNamespaces: ['a', 'b'] });
  t.deepEqual(checkDaemonRequest('connect', { mappedNamespaces: [], allowConflictingSubnets: false }), {});
});

test("#17: connect: a bad mapped namespace is the flag's fault (E_FLAG, hint); a bad list is a bad request", (t) => {
  const e = refusal(t, () => checkDaemonRequest('connect', { mappedNamespaces: ['a', 'Team_B'] }));
  t.is(e.code, 'E_FLAG');
  t.is(e.message, '--mapped-namespaces: "Team_B" is not a namespace name');
  t.regex(e.hint ?? '', /--mapped-namespaces team-a,team-b/);
  const l = refusal(t, () => checkDaemonRequest('connect', { mappedNamespaces: 'a,b' }));
  t.is(l.code, 'E_BAD_REQUEST');
  t.is(l.message, 'mappedNamespaces: must be a list of at most 256 namespaces');
  t.is(
    refusal(t, () => checkDaemonRequest('connect', { alsoProxy: Array(257).fill('10.0.0.0/8') })).message,
    'alsoProxy: must be a list of at most 256 strings',
  );
  t.is(
    refusal(t, () => checkDaemonRequest('connect', { context: 'x'.repeat(4097) })).message,
    'context: must be a string of at most 4096 characters',
  );
});

test('#17: a field the daemon does not know is refused, with the version hint', (t) => {
  const e = refusal(t, () => checkDaemonRequest('connect', { namespce: 'a' }));
  t.is(e.code, 'E_BAD_REQUEST');
  t.regex(e.message, /^namespce: is not a field of this request \(kubeconfig, /);
  t.regex(e.hint ?? '', /tp quit/);
  t.regex(
    refusal(t, () => checkDaemonRequest('status', { verbose: true })).message,
    /^verbose: is not a field of this request \(it has none\)$/,
  );
});

const engage = { kind: 'intercept', workload: 'echo', ports: [{ local: 8080, remote: 'http' }], mount: false };

test('#17: engage: a request as the CLI builds it passes unchanged', (t) => {
  const full = {
    ...engage,
    namespace: 'a',
    name: 'echo-x',
    container: 'app',
    address: '127.0.0.1',
    filter: { headers: { 'x-dev': '~alice.*' }, pathPrefix: '/api' },
    timeoutMs: 30_000,
  };
  t.deepEqual(checkDaemonRequest('engage', full), full);
  t.deepEqual(checkDaemonRequest('engage', { kind: 'ingest', workload: 'echo', mount: '' }), {
    kind: 'ingest',
    workload: 'echo',
    ports: [],
    mount: '',
  });
});

test("#17: engage: each flag's fault names the flag, with E_FLAG", (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ports: [{ local: 70000 }] }, 'local port 70000 is out of range 1-65535'],
    [{ ports: [{ local: 8080, remote: 'Not A Name' }] }, 'remote port "Not A Name" must be a port number or name'],
    [{ mount: 'relative/dir' }, '--mount relative/dir must be an absolute path'],
    [{ workload: 'Echo' }, '"Echo" is not a workload name'],
    [{ workload: undefined }, '"" is not a workload name'],
    [{ name: 'a b' }, "--name \"a b\" must be letters, digits, '-', '_' or '.'"],
  ];
  for (const [change, message] of cases) {
    const e = refusal(t, () => checkDaemonRequest('engage', { ...engage, ...change }));
    t.deepEqual([e.code, e.message], ['E_FLAG', message]);
  }
});

test('#17: engage: malformed fields are bad requests naming their path', (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ kind: 'steal' }, 'kind: must be intercept, replace, ingest or wiretap'],
    [{ mount: 5 }, 'mount: must be a directory, "" or false'],
    [{ ports: Array(33).fill({ local: 1 }) }, 'ports: must be a list of at most 32 ports'],
    [{ ports: [{ local: 1 }, { lcoal: 2 }] }, 'ports[1].lcoal: is not a field of this object (local, remote)'],
    [{ ports: [null] }, 'ports[0]: must be an object'],
    [{ filter: { headers: { 'x dev': 'a' } } }, 'filter.headers["x dev"]: "x dev" is not an HTTP header name'],
    [{ filter: { headers: { a: 1 } } }, 'filter.headers.a: must be a string of at most 4096 characters'],
    [{ timeoutMs: 5 }, 'timeoutMs: must be an integer from 1000 to 3600000'],
  ];
  for (const [change, message] of cases) {
    const e = refusal(t, () => checkDaemonRequest('engage', { ...engage, ...change }));
    t.deepEqual([e.code, e.message], ['E_BAD_REQUEST', message]);
  }
});

test("#17: leave, list, uninstall: an empty namespace is none (the connection's is used); quit defaults to not stopping the root daemon", (t) => {
  t.deepEqual(checkDaemonRequest('leave', { name: 'echo', namespace: '' }), { name: 'echo' });
  t.deepEqual(checkDaemonRequest('list', { namespace: '' }), {});
  t.deepEqual(checkDaemonRequest('uninstall', { workload: 'echo' }), { workload: 'echo' });
  t.deepEqual(checkDaemonRequest('quit', {}), { stopRoot: false });
  t.deepEqual(checkDaemonRequest('quit', { stopRoot: true }), { stopRoot: true });
  t.deepEqual(checkDaemonRequest('loglevel', {}), { level: '' });
});
