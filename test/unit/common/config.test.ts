// #15: ~/.config/tp/config.yml — defaults, every setting, and one sentence per mistake.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configPath, DEFAULT_CONFIG, loadConfig, parseConfig } from '../../../lib/common/config.js';

test('#15: no config file means the defaults, and says so', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = loadConfig(join(dir, 'config.yml'));
  t.false(c.exists);
  t.deepEqual(c.config, DEFAULT_CONFIG);
});

test('#15: the config path is TP_CONFIG, else XDG_CONFIG_HOME/tp/config.yml, else ~/.config/tp/config.yml', (t) => {
  t.is(configPath({ TP_CONFIG: '/x/c.yml' }), '/x/c.yml');
  t.is(configPath({ XDG_CONFIG_HOME: '/xdg' }), '/xdg/tp/config.yml');
  t.regex(configPath({}), /\/\.config\/tp\/config\.yml$/);
});

test('#15: every setting is read; durations take seconds or s/m/h; unset keys keep their defaults', (t) => {
  const c = parseConfig(
    `
managerNamespace: tp-dev
timeouts: { connect: 30s, agentArrival: 2m, helmInstall: 300 }
logLevels: { userDaemon: debug }
dns: { includeSuffixes: [corp.example], excludeSuffixes: [local] }
routing: { alsoProxy: [10.1.0.0/16], neverProxy: ["10.96.0.1/32"], allowConflictingSubnets: true }
`,
    'c.yml',
  );
  t.is(c.managerNamespace, 'tp-dev');
  t.deepEqual(c.timeouts, { connect: 30, agentArrival: 120, helmInstall: 300 });
  t.deepEqual(c.logLevels, { userDaemon: 'debug', rootDaemon: 'info' });
  t.deepEqual(c.dns, { includeSuffixes: ['corp.example'], excludeSuffixes: ['local'] });
  t.deepEqual(c.routing, { alsoProxy: ['10.1.0.0/16'], neverProxy: ['10.96.0.1/32'], allowConflictingSubnets: true });
  t.deepEqual(parseConfig('', 'c.yml'), DEFAULT_CONFIG, 'an empty file is the defaults');
});

test('#15: a mistake in the config file is one sentence naming the file and the setting', (t) => {
  const cases: Array<[string, RegExp]> = [
    [
      'managerNamespce: x',
      /^c\.yml: there is no setting managerNamespce \(known: managerNamespace, timeouts, logLevels, dns, routing, mappedNamespaces\)$/,
    ],
    ['timeouts: { conect: 3 }', /^c\.yml: there is no setting timeouts\.conect \(known: timeouts\.connect, /],
    ['timeouts: { connect: soon }', /^c\.yml: timeouts\.connect "soon" is not a duration/],
    ['logLevels: { rootDaemon: loud }', /^c\.yml: logLevels\.rootDaemon "loud" is not a log level \(trace, debug, info, warn, error\)$/],
    ['routing: { alsoProxy: [nope] }', /^c\.yml: routing\.alsoProxy "nope" is not a CIDR/],
    ['routing: { allowConflictingSubnets: yes please }', /^c\.yml: routing\.allowConflictingSubnets must be true or false$/],
    ['dns: [a]', /^c\.yml: dns must be a map of settings$/],
    ['managerNamespace: Not_A_Name', /^c\.yml: managerNamespace "Not_A_Name" is not a namespace name$/],
    ['- a list', /^the config file c\.yml must be a map of settings$/],
    ['a: [', /^the config file c\.yml is not YAML: /],
  ];
  for (const [text, re] of cases) {
    const err = t.throws(() => parseConfig(text, 'c.yml'), undefined, text);
    t.regex(err!.message, re, text);
    t.is((err as { code?: string }).code, 'E_CONFIG');
  }
});

test('#16: mappedNamespaces is a list of namespace names (the default of tp connect --mapped-namespaces)', (t) => {
  t.deepEqual(parseConfig('mappedNamespaces: [team-a, team-b, team-a]\n', 'c.yml').mappedNamespaces, ['team-a', 'team-b']);
  t.deepEqual(parseConfig('', 'c.yml').mappedNamespaces, []);
  t.throws(() => parseConfig('mappedNamespaces: team-a\n', 'c.yml'), { message: 'c.yml: mappedNamespaces must be a list of strings' });
  t.throws(() => parseConfig('mappedNamespaces: [Team_A]\n', 'c.yml'), {
    message: /^c\.yml: mappedNamespaces "Team_A" is not a namespace name$/,
  });
});
