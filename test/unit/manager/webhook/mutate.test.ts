import test from 'ava';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import {
  AGENT_CONTAINER_NAME,
  AGENT_INIT_CONTAINER_NAME,
  AGENT_INJECTED_ANNOTATION,
  AGENT_TOKEN_AUDIENCE,
  AGENT_TOKEN_DIR,
  parseAgentConfig,
  serializeAgentConfig,
  type AgentConfig,
} from '../../../../lib/common/agent-config.js';
import { validateConfig } from '../../../../lib/agent/init/config.js';
import { agentConfigHash, mutate, rewriteRefs, type MutateResult, type PatchOp } from '../../../../lib/manager/webhook/mutate.js';
import { applyPatch, CONFIG, OPTS, pod, podProblems, review } from './harness.js';

type Ok = Extract<MutateResult, { ok: true }>;

function ok(t: { fail(m: string): void }, r: MutateResult): Ok {
  if (!r.ok) {
    t.fail(`not ok: ${r.error}`);
    throw new Error(r.error);
  }
  return r;
}

/** The ops as the API server reads them: base64 JSON in the response. */
function opsOf(r: Ok): PatchOp[] {
  return r.review.response.patch ? (JSON.parse(Buffer.from(r.review.response.patch, 'base64').toString('utf8')) as PatchOp[]) : [];
}

/** Admission as the API server does it: the pod after our patch. */
function admit(p: V1Pod, request: Record<string, unknown> = {}): { r: Ok; pod: V1Pod } {
  const r = mutate(review(p, request), OPTS);
  if (!r.ok) throw new Error(r.error);
  return { r, pod: applyPatch(p, opsOf(r)) as V1Pod };
}

const agentOf = (p: V1Pod) => p.spec!.containers.find((c) => c.name === AGENT_CONTAINER_NAME)!;
const envOf = (c: V1Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

test('a pod without the agent-config annotation is admitted unchanged, without warnings', (t) => {
  const r = ok(t, mutate(review(pod({ config: null })), OPTS));
  t.deepEqual(r.review, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true },
  });
  t.is(r.outcome.action, 'skipped');
  t.deepEqual(r.pod, { namespace: 'team', generateName: 'echo-5d9c7b-' });
});

test("an unparsable annotation admits the pod unchanged and warns with the parser's reason", (t) => {
  for (const [config, reason] of [
    ['{not json', 'the tp.dev/agent-config annotation is not JSON'],
    [JSON.stringify({ ...CONFIG, version: 2 }), 'the agent config has version 2; this tp understands version 1'],
  ] as const) {
    const r = ok(t, mutate(review(pod({ config })), OPTS));
    t.true(r.review.response.allowed);
    t.is(r.review.response.patch, undefined);
    t.deepEqual(r.review.response.warnings, [`tp agent not injected: ${reason}`]);
    t.is(r.outcome.action, 'not-injected');
  }
});

test('an annotated pod gets tp-agent-init and tp-agent, the token volume and the injected hash', (t) => {
  const { r, pod: out } = admit(pod());
  t.is(r.review.response.patchType, 'JSONPatch');
  t.is(r.outcome.action, 'injected');
  t.deepEqual(podProblems(out), []);
  t.deepEqual(
    out.spec!.containers.map((c) => c.name),
    ['echo', AGENT_CONTAINER_NAME],
  );

  const init = out.spec!.initContainers!.find((c) => c.name === AGENT_INIT_CONTAINER_NAME)!;
  t.is(init.image, OPTS.agentImage);
  t.is(init.imagePullPolicy, 'IfNotPresent');
  t.deepEqual(init.command, ['node', '/app/dist/lib/agent/init/main.js']);
  // #15: root for iptables, but only NET_ADMIN of root's capabilities, and nothing else writable.
  t.deepEqual(init.securityContext, {
    runAsUser: 0,
    runAsNonRoot: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
  });
  const initCfg = validateConfig(JSON.parse(envOf(init).TP_AGENT_CONFIG as string));
  t.deepEqual(initCfg, { ok: true, config: { version: 1, ports: CONFIG.ports } }, 'tp-agent-init gets {version, ports} and accepts it');
  t.is(envOf(init).TP_LOG_LEVEL, 'debug');

  const agent = agentOf(out);
  t.deepEqual(agent.command, ['node', '/app/dist/lib/agent/main.js']);
  const env = envOf(agent);
  t.deepEqual(parseAgentConfig(env.TP_AGENT_CONFIG as string), CONFIG);
  t.deepEqual(env.TP_POD_NAME, { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } });
  t.deepEqual(env.TP_POD_NAMESPACE, { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } });
  t.deepEqual(env.TP_POD_IP, { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } });
  t.is(env.TP_APP_MOUNTS, '[]');
  t.deepEqual(agent.volumeMounts, [
    { name: 'tp-agent-token', mountPath: AGENT_TOKEN_DIR, readOnly: true },
    { name: 'tp-agent-passwd', mountPath: '/etc/passwd', subPath: 'passwd', readOnly: true },
  ]);
  t.deepEqual(agent.resources, { requests: { cpu: '10m', memory: '64Mi' } });
  t.is(agent.ports, undefined, 'the app keeps its ports while it runs');

  t.deepEqual(out.spec!.volumes, [
    {
      name: 'tp-agent-token',
      projected: { sources: [{ serviceAccountToken: { audience: AGENT_TOKEN_AUDIENCE, expirationSeconds: 3600, path: 'token' } }] },
    },
    {
      name: 'tp-agent-passwd',
      downwardAPI: {
        items: [{ path: 'passwd', fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['tp.dev/agent-passwd']" } }],
      },
    },
  ]);
  t.is(out.metadata!.annotations![AGENT_INJECTED_ANNOTATION], agentConfigHash(CONFIG));
  t.regex(agentConfigHash(CONFIG), /^[0-9a-f]{16}$/);
  t.true(
    opsOf(r).some((o) => o.path === '/metadata/annotations/tp.dev~1agent-injected'),
    'the / of the annotation key is escaped in the pointer',
  );
});

test('existing init containers and volumes are appended to; absent ones are created', (t) => {
  const withBoth = pod({ spec: { initContainers: [{ name: 'migrate', image: 'm' }], volumes: [{ name: 'data', emptyDir: {} }] } });
  const a = admit(withBoth);
  t.deepEqual(
    a.pod.spec!.initContainers!.map((c) => c.name),
    ['migrate', AGENT_INIT_CONTAINER_NAME],
  );
  t.deepEqual(
    a.pod.spec!.volumes!.map((v) => v.name),
    ['data', 'tp-agent-token', 'tp-agent-passwd'],
  );
  t.deepEqual(
    opsOf(a.r)
      .filter((o) => o.op === 'add')
      .map((o) => o.path),
    [
      '/spec/initContainers/-',
      '/spec/containers/-',
      '/spec/volumes/-',
      '/spec/volumes/-',
      '/metadata/annotations/tp.dev~1agent-injected',
      '/metadata/annotations/tp.dev~1agent-passwd',
    ],
  );
  const b = admit(pod());
  t.deepEqual(
    opsOf(b.r).map((o) => o.path),
    [
      '/spec/initContainers',
      '/spec/containers/-',
      '/spec/volumes',
      '/metadata/annotations/tp.dev~1agent-injected',
      '/metadata/annotations/tp.dev~1agent-passwd',
    ],
  );
});

test('reinvocation: an injected pod is admitted unchanged (idempotent)', (t) => {
  const once = admit(pod()).pod;
  const { r, pod: twice } = admit(once);
  t.is(r.review.response.patch, undefined);
  t.is(r.review.response.warnings, undefined);
  t.deepEqual(r.outcome, { action: 'skipped', reason: 'already injected' });
  t.deepEqual(twice, once);
});

test('a pod with only one of the two agent containers is left alone, with a warning (a second would fail validation)', (t) => {
  const p = pod({ spec: { initContainers: [{ name: AGENT_INIT_CONTAINER_NAME, image: 'x' }] } });
  const r = ok(t, mutate(review(p), OPTS));
  t.is(r.review.response.patch, undefined);
  t.deepEqual(r.review.response.warnings, ['tp agent not injected: the pod already has a container named tp-agent-init']);
});

test('a config naming a container the pod lacks admits the pod unchanged, with a warning naming what it has', (t) => {
  const r = ok(t, mutate(review(pod({ config: { ...CONFIG, container: 'web' } })), OPTS));
  t.is(r.review.response.patch, undefined);
  t.deepEqual(r.review.response.warnings, ['tp agent not injected: the pod has no container named web (it has: echo)']);
});

test('only pod CREATEs are mutated: UPDATE, other kinds and subresources pass unchanged', (t) => {
  for (const req of [
    { operation: 'UPDATE' },
    { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } },
    { subResource: 'ephemeralcontainers' },
  ]) {
    const r = ok(t, mutate(review(pod(), req), OPTS));
    t.is(r.outcome.action, 'skipped', JSON.stringify(req));
    t.is(r.review.response.patch, undefined);
  }
});

test('a body that is no AdmissionReview v1 with a uid cannot be answered (the server sends 400)', (t) => {
  t.deepEqual(mutate(null, OPTS), { ok: false, error: 'the body is not an AdmissionReview with a request' });
  t.deepEqual(mutate({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }, OPTS), {
    ok: false,
    error: 'AdmissionReview admission.k8s.io/v1beta1 is not served; this webhook speaks admission.k8s.io/v1',
  });
  t.deepEqual(mutate({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }, OPTS), {
    ok: false,
    error: 'the AdmissionReview request has no uid',
  });
});

test('malformed pod fields never throw: the pod is admitted, with a warning when it asked for an agent', (t) => {
  const weird = [
    {
      metadata: { annotations: { 'tp.dev/agent-config': serializeAgentConfig(CONFIG) } },
      spec: { containers: [null, { name: 'echo', env: 'x', envFrom: 3, volumeMounts: {} }] },
    },
    { metadata: { annotations: { 'tp.dev/agent-config': 42 } }, spec: {} },
    { metadata: 'x', spec: 'y' },
    'not a pod',
  ];
  for (const w of weird) {
    const r = ok(t, mutate(review(w), OPTS));
    t.true(r.review.response.allowed);
  }
});

test("env: app variables are copied under TP_APP_ENV_, $(VAR) of the app's own rewritten, $$( escapes and foreign refs kept", (t) => {
  const app: V1Container = {
    name: 'echo',
    image: 'e',
    env: [
      { name: 'HOST', value: 'db' },
      { name: 'URL', value: 'postgres://$(HOST):$(PORT)/x?$(HOME)' },
      { name: 'LITERAL', value: '$$(HOST) costs $$5 and $(unterminated' },
      { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      { name: 'PORT', value: '5432' },
    ],
    envFrom: [{ configMapRef: { name: 'settings' } }, { secretRef: { name: 'creds', optional: true }, prefix: 'CREDS_' }],
  };
  const agent = agentOf(admit(pod({ containers: [app] })).pod);
  const appEnv = (agent.env ?? []).filter((e) => e.name.startsWith('TP_APP_ENV_'));
  t.deepEqual(appEnv, [
    { name: 'TP_APP_ENV_HOST', value: 'db' },
    { name: 'TP_APP_ENV_URL', value: 'postgres://$(TP_APP_ENV_HOST):$(TP_APP_ENV_PORT)/x?$(HOME)' },
    { name: 'TP_APP_ENV_LITERAL', value: '$$(HOST) costs $$5 and $(unterminated' },
    { name: 'TP_APP_ENV_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
    // "this container" would be the agent: pinned to the app, whose limits the app saw.
    { name: 'TP_APP_ENV_CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', containerName: 'echo' } } },
    { name: 'TP_APP_ENV_PORT', value: '5432' },
  ]);
  t.deepEqual(agent.envFrom, [
    { configMapRef: { name: 'settings' }, prefix: 'TP_APP_ENV_' },
    { secretRef: { name: 'creds', optional: true }, prefix: 'TP_APP_ENV_CREDS_' },
  ]);
  t.is(app.env![1]!.value, 'postgres://$(HOST):$(PORT)/x?$(HOME)', 'the input is not modified');
});

test('rewriteRefs reads references as the kubelet does', (t) => {
  const names = new Set(['A', 'B']);
  t.is(rewriteRefs('$(A)$(B)$(C)', names), '$(TP_APP_ENV_A)$(TP_APP_ENV_B)$(C)');
  t.is(rewriteRefs('$$(A) $$$(A) $', names), '$$(A) $$$(TP_APP_ENV_A) $');
  t.is(rewriteRefs('$(X$(A))', names), '$(X$(A))', 'the name runs to the first )');
  t.is(rewriteRefs('$(A', names), '$(A');
});

test('volume mounts: each app mount appears under /tp/app-mounts/<container>, read-only where the app has it so, and TP_APP_MOUNTS lists them', (t) => {
  const app: V1Container = {
    name: 'echo',
    image: 'e',
    env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
    volumeMounts: [
      { name: 'data', mountPath: '/var/lib/data' },
      { name: 'config', mountPath: '/etc/app/app.yaml', subPath: 'app.yaml', readOnly: true },
      { name: 'logs', mountPath: '/logs', subPathExpr: '$(POD)', mountPropagation: 'HostToContainer' },
    ],
  };
  const spec = {
    volumes: [
      { name: 'data', emptyDir: {} },
      { name: 'config', configMap: { name: 'c' } },
      { name: 'logs', emptyDir: {} },
    ],
  };
  const out = admit(pod({ containers: [app], spec })).pod;
  t.deepEqual(podProblems(out), []);
  const agent = agentOf(out);
  t.deepEqual(agent.volumeMounts, [
    { name: 'data', mountPath: '/tp/app-mounts/echo/var/lib/data' },
    { name: 'config', mountPath: '/tp/app-mounts/echo/etc/app/app.yaml', readOnly: true, subPath: 'app.yaml' },
    { name: 'logs', mountPath: '/tp/app-mounts/echo/logs', subPathExpr: '$(TP_APP_ENV_POD)' },
    { name: 'tp-agent-token', mountPath: AGENT_TOKEN_DIR, readOnly: true },
    { name: 'tp-agent-passwd', mountPath: '/etc/passwd', subPath: 'passwd', readOnly: true },
  ]);
  t.deepEqual(JSON.parse(envOf(agent).TP_APP_MOUNTS as string), ['/var/lib/data', '/etc/app/app.yaml', '/logs']);
});

test('replace: the app container (the middle of three) is removed by its original index; the agent takes its ports', (t) => {
  const config: AgentConfig = { ...CONFIG, container: 'echo', replace: true };
  const containers: V1Container[] = [
    { name: 'proxy', image: 'p' },
    {
      name: 'echo',
      image: 'e',
      ports: [{ name: 'http', containerPort: 8080 }],
      env: [{ name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }],
    },
    { name: 'metrics', image: 'm' },
  ];
  const { r, pod: out } = admit(pod({ config, containers, spec: { volumes: [{ name: 'x', emptyDir: {} }] } }));
  t.deepEqual(opsOf(r)[0], { op: 'remove', path: '/spec/containers/1' }, 'the remove comes first, while index 1 is still the app');
  t.is(opsOf(r).filter((o) => o.op === 'remove').length, 1);
  t.deepEqual(
    out.spec!.containers.map((c) => c.name),
    ['proxy', 'metrics', AGENT_CONTAINER_NAME],
  );
  t.deepEqual(podProblems(out), [], 'no reference to the removed container is left');
  const agent = agentOf(out);
  t.deepEqual(agent.ports, [{ name: 'http', containerPort: 8080 }], 'Services naming targetPort http still find it');
  t.deepEqual(
    agent.env!.find((e) => e.name === 'TP_APP_ENV_CPU'),
    { name: 'TP_APP_ENV_CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
  );
  t.is(parseAgentConfig(envOf(agent).TP_AGENT_CONFIG as string).replace, true);
});

test("replace of the only container leaves the agent as the pod's one container", (t) => {
  const out = admit(pod({ config: { ...CONFIG, replace: true } })).pod;
  t.deepEqual(
    out.spec!.containers.map((c) => c.name),
    [AGENT_CONTAINER_NAME],
  );
  t.deepEqual(podProblems(out), []);
});

const LOCKED = { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
const passwdOf = (p: V1Pod) => p.metadata!.annotations!['tp.dev/agent-passwd']!;

test("the agent runs as the app container's user (#15), restricted on its own (#16); the init container keeps root and NET_ADMIN", (t) => {
  const sc = { runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false };
  const out = admit(pod({ containers: [{ name: 'echo', image: 'e', securityContext: sc }] })).pod;
  t.deepEqual(agentOf(out).securityContext, { runAsGroup: 1000, runAsUser: 1000, ...LOCKED, seccompProfile: { type: 'RuntimeDefault' } });
  t.is(out.spec!.initContainers![0]!.securityContext!.runAsUser, 0);
  t.regex(passwdOf(out), /^tp-agent:x:1000:1000:/m, 'sftp-server finds its uid in /etc/passwd');
});

test('#16: an app that runs as root (or says nothing) gets a non-root agent with a uid, no capabilities and RuntimeDefault seccomp', (t) => {
  const root = admit(pod()).pod;
  t.deepEqual(agentOf(root).securityContext, { runAsUser: 65532, ...LOCKED, seccompProfile: { type: 'RuntimeDefault' } });
  t.regex(passwdOf(root), /^tp-agent:x:65532:0:tp-agent:\/nonexistent:\/usr\/sbin\/nologin$/m);
  t.regex(passwdOf(root), /^root:x:0:0:/m);
  const explicitRoot = agentOf(
    admit(pod({ containers: [{ name: 'echo', image: 'e', securityContext: { runAsUser: 0, capabilities: { add: ['NET_ADMIN'] } } }] })).pod,
  ).securityContext;
  t.deepEqual(explicitRoot, { runAsUser: 65532, ...LOCKED, seccompProfile: { type: 'RuntimeDefault' } });
  const privileged = agentOf(
    admit(
      pod({
        containers: [
          {
            name: 'echo',
            image: 'e',
            securityContext: {
              privileged: true,
              capabilities: { add: ['SYS_ADMIN'] },
              seccompProfile: { type: 'Unconfined' },
              appArmorProfile: { type: 'Unconfined' },
              windowsOptions: { hostProcess: true },
            },
          },
        ],
      }),
    ).pod,
  ).securityContext;
  t.is(privileged!.privileged, undefined, 'a privileged app does not make a privileged agent');
  t.false(JSON.stringify(privileged).includes('SYS_ADMIN'));
  t.deepEqual(privileged!.seccompProfile, { type: 'RuntimeDefault' }, 'never Unconfined');
  t.is(privileged!.appArmorProfile, undefined);
  t.is(privileged!.windowsOptions, undefined, 'no hostProcess');
});

test("#16: the app's allowed seccomp, AppArmor and SELinux settings carry over; a pod-level profile applies as it is", (t) => {
  const sc = {
    runAsUser: 1000,
    seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' },
    appArmorProfile: { type: 'RuntimeDefault' },
    seLinuxOptions: { level: 's0:c1' },
  };
  const carried = agentOf(admit(pod({ containers: [{ name: 'echo', image: 'e', securityContext: sc }] })).pod).securityContext;
  t.like(carried, { seccompProfile: sc.seccompProfile, appArmorProfile: sc.appArmorProfile, seLinuxOptions: sc.seLinuxOptions });
  const podLevel = agentOf(
    admit(pod({ spec: { securityContext: { runAsNonRoot: true, runAsUser: 2000, seccompProfile: { type: 'RuntimeDefault' } } } })).pod,
  ).securityContext;
  t.deepEqual(podLevel, LOCKED, 'the pod-level uid and profile apply to the agent as they are');
});

test("#15: a pod that must not run as root without naming a uid gets a non-root agent uid; a pod-level uid is the agent's too", (t) => {
  const nonRoot = admit(pod({ spec: { securityContext: { runAsNonRoot: true } } })).pod;
  t.deepEqual(agentOf(nonRoot).securityContext, { runAsUser: 65532, ...LOCKED, seccompProfile: { type: 'RuntimeDefault' } });
  const podUid = admit(pod({ spec: { securityContext: { runAsUser: 2000, runAsGroup: 3000, fsGroup: 2000 } } })).pod;
  t.deepEqual(
    agentOf(podUid).securityContext,
    { ...LOCKED, seccompProfile: { type: 'RuntimeDefault' } },
    'the pod-level uid applies as it is',
  );
  t.regex(passwdOf(podUid), /^tp-agent:x:2000:3000:/m);
});

test('the injected hash names the config: another config gives another hash', (t) => {
  t.is(agentConfigHash(CONFIG), agentConfigHash(parseAgentConfig(serializeAgentConfig(CONFIG))));
  t.not(agentConfigHash(CONFIG), agentConfigHash({ ...CONFIG, replace: true }));
});

test("probes of a redirected port go to the agent's probe port (by number or name); others stay", (t) => {
  const app: V1Container = {
    name: 'echo',
    image: 'e',
    ports: [
      { name: 'http', containerPort: 8080 },
      { name: 'metrics', containerPort: 9090 },
    ],
    readinessProbe: { httpGet: { path: '/ready', port: 'http' as unknown as number }, periodSeconds: 1 },
    livenessProbe: { tcpSocket: { port: 8080 as unknown as number } },
    startupProbe: { httpGet: { path: '/m', port: 9090 as unknown as number } },
  };
  const out = admit(pod({ containers: [app] })).pod;
  const echo = out.spec!.containers.find((c) => c.name === 'echo')!;
  t.deepEqual(
    echo.readinessProbe,
    { httpGet: { path: '/ready', port: 10900 as unknown as number }, periodSeconds: 1 },
    'agent port 9900 + 1000',
  );
  t.deepEqual(echo.livenessProbe, { tcpSocket: { port: 10900 as unknown as number } });
  t.deepEqual(echo.startupProbe, { httpGet: { path: '/m', port: 9090 as unknown as number } }, 'port 9090 is not redirected');
  t.deepEqual(podProblems(out), []);
  const replaced = admit(pod({ config: { ...CONFIG, replace: true }, containers: [app] })).pod;
  t.false(
    replaced.spec!.containers.some((c) => c.name === 'echo'),
    'replace removes the container with its probes',
  );
});

// ---- #16: ports taken over by name --------------------------------------------------------------

const TAKEN: AgentConfig = {
  ...CONFIG,
  ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http', mode: 'name', appName: 'tp-http' }],
};

test("#16: a port taken over by name: no init container; the app's port is renamed and the agent declares the name at its agent port", (t) => {
  const app: V1Container = {
    name: 'echo',
    image: 'e',
    ports: [
      { name: 'http', containerPort: 8080 },
      { name: 'metrics', containerPort: 9090 },
    ],
    readinessProbe: { httpGet: { path: '/ready', port: 'http' as unknown as number } },
    livenessProbe: { tcpSocket: { port: 8080 as unknown as number } },
  };
  const { r, pod: out } = admit(pod({ config: TAKEN, containers: [app] }));
  t.is(r.outcome.action, 'injected');
  t.deepEqual(podProblems(out), []);
  t.is(out.spec!.initContainers, undefined, 'no NET_ADMIN init container');
  const echo = out.spec!.containers.find((c) => c.name === 'echo')!;
  t.deepEqual(echo.ports, [
    { name: 'tp-http', containerPort: 8080 },
    { name: 'metrics', containerPort: 9090 },
  ]);
  t.deepEqual(agentOf(out).ports, [{ name: 'http', containerPort: 9900, protocol: 'TCP' }]);
  // A Service's `targetPort: http` now resolves to the agent: the first container port of that name in the pod.
  t.deepEqual(
    out.spec!.containers.flatMap((c) => (c.ports ?? []).filter((p) => p.name === 'http').map((p) => `${c.name}:${p.containerPort}`)),
    ['tp-agent:9900'],
  );
  t.deepEqual(
    echo.readinessProbe,
    { httpGet: { path: '/ready', port: 8080 as unknown as number } },
    "the name is the agent's now: the probe gets the number, which nothing redirects",
  );
  t.deepEqual(echo.livenessProbe, { tcpSocket: { port: 8080 as unknown as number } }, 'by number: unchanged');
  t.deepEqual(parseAgentConfig(envOf(agentOf(out)).TP_AGENT_CONFIG as string), TAKEN);
  const again = admit(out);
  t.deepEqual(again.r.outcome, { action: 'skipped', reason: 'already injected' }, 'reinvocation without an init container');
});

test('#16: a mixed config hands tp-agent-init only the redirected ports; replace declares the taken-over name at the agent port', (t) => {
  const mixed: AgentConfig = {
    ...TAKEN,
    ports: [...TAKEN.ports, { containerPort: 9090, protocol: 'TCP', agentPort: 9901, name: 'metrics' }],
  };
  const app: V1Container = {
    name: 'echo',
    image: 'e',
    ports: [
      { name: 'http', containerPort: 8080 },
      { name: 'metrics', containerPort: 9090 },
    ],
  };
  const out = admit(pod({ config: mixed, containers: [app] })).pod;
  const init = out.spec!.initContainers!.find((c) => c.name === AGENT_INIT_CONTAINER_NAME)!;
  t.deepEqual(JSON.parse(envOf(init).TP_AGENT_CONFIG as string), {
    version: 1,
    ports: [{ containerPort: 9090, protocol: 'TCP', agentPort: 9901, name: 'metrics' }],
  });
  t.true(validateConfig(JSON.parse(envOf(init).TP_AGENT_CONFIG as string)).ok);

  const replaced = admit(pod({ config: { ...mixed, replace: true }, containers: [app] })).pod;
  t.deepEqual(
    replaced.spec!.containers.map((c) => c.name),
    [AGENT_CONTAINER_NAME],
  );
  t.deepEqual(
    agentOf(replaced).ports,
    [
      { name: 'http', containerPort: 9900 },
      { name: 'metrics', containerPort: 9090 },
    ],
    'redirected ports keep their numbers (the REDIRECT sends them on)',
  );
  t.deepEqual(podProblems(replaced), []);
});

test("#16: another container holding the taken-over name, or the app port's new name, leaves the pod uninjected with a warning", (t) => {
  const side = (name: string): V1Container => ({ name: 'side', image: 's', ports: [{ name, containerPort: 7070 }] });
  for (const [name, reason] of [
    ['http', 'container side also has a port named http, which the agent takes over'],
    ['tp-http', "container side already has a port named tp-http, the name the app's port http was to get"],
  ] as const) {
    const r = ok(
      t,
      mutate(
        review(
          pod({ config: TAKEN, containers: [{ name: 'echo', image: 'e', ports: [{ name: 'http', containerPort: 8080 }] }, side(name)] }),
        ),
        OPTS,
      ),
    );
    t.is(r.review.response.patch, undefined);
    t.deepEqual(r.review.response.warnings, [`tp agent not injected: ${reason}`]);
  }
});
