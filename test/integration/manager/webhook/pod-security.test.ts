// #16: the agent in a namespace that enforces Pod Security "restricted", against a real
// kube-apiserver (etcd + apiserver, envtest-style, as apiserver.test.ts next to this file): the
// PodSecurity admission plugin is the API server's own, enabled by default, and it runs after the
// mutating webhooks — so it judges the pod as our injector patched it. The manager's reads (the
// namespace's enforce label, the Services) go through client-node against the same server and
// feed the real planner. No kubelet: pods are stored, never run.
import test from 'ava';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import {
  AGENT_CONFIG_ANNOTATION,
  AGENT_LABEL,
  AGENT_LABEL_VALUE,
  serializeAgentConfig,
  type AgentConfig,
} from '../../../../lib/common/agent-config.js';
import { renderChart } from '../../../../lib/helm/chart.js';
import { userValues } from '../../../../lib/helm/values.js';
import { planAgentConfig } from '../../../../lib/manager/agent-plan.js';
import { startWebhook, type RunningWebhook } from '../../../../lib/manager/webhook/start.js';
import { listServices, podSecurityEnforce } from '../../../../lib/manager/workload-k8s.js';
import { captureLogger } from '../../../unit/manager/webhook/harness.js';
import { APISERVER_BINARIES, startApiServer, type TestApiServer } from '../../../helpers/apiserver.js';
import { missing, testNeeding } from '../../../helpers/binaries.js';

const CHART = fileURLToPath(new URL('../../../../../helm/', import.meta.url));
const hostIP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const ready = missing(APISERVER_BINARIES).length === 0 && hostIP !== undefined;

const NS = 'tp-system';
const STRICT = 'strict';
let api: TestApiServer | undefined;
let kc: k8s.KubeConfig;
let wh: RunningWebhook | undefined;

const maybe =
  hostIP === undefined
    ? (title: string) => test.skip(`${title} [skipped: this host has no non-loopback IPv4 address for the Endpoints]`, () => {})
    : testNeeding(APISERVER_BINARIES, { serial: true });

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await f().catch((err: unknown) => void (last = err));
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `; last error: ${messageOf(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The Status message of a refused API call (client-node keeps the body as text). */
function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    return (JSON.parse(String(body)) as { message?: string }).message ?? String(body);
  } catch {
    return (err as Error).message;
  }
}

test.before(async () => {
  if (!ready) return;
  api = await startApiServer('pod-security', ['--enable-aggregator-routing=true']);
  kc = api.kc;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespace({
    body: {
      metadata: {
        name: STRICT,
        labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
      },
    },
  });
  const objs = renderChart(CHART, { releaseName: 'traffic-manager', namespace: NS, values: userValues({}) }).manifests.map((m) => m.object);
  const cfg = objs.find((o) => o.kind === 'MutatingWebhookConfiguration') as unknown as k8s.V1MutatingWebhookConfiguration;
  await admission.createMutatingWebhookConfiguration({ body: cfg });
  // The workload's Service targets the app's port by name.
  await core.createNamespacedService({
    namespace: STRICT,
    body: {
      metadata: { name: 'echo' },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'web', port: 80, targetPort: 'http' as unknown as k8s.IntOrString }] },
    },
  });
  await core.createNamespacedService({ namespace: NS, body: objs.find((o) => o.kind === 'Service') as unknown as k8s.V1Service });
  wh = await startWebhook({
    kc,
    namespace: NS,
    serviceName: 'traffic-manager',
    clusterDomain: 'cluster.local',
    port: 0,
    host: '0.0.0.0',
    secretName: 'tp-agent-injector-tls',
    webhookConfigName: cfg.metadata!.name!,
    agentImage: 'tp.local/tp:0.1.0',
    imagePullPolicy: 'IfNotPresent',
    log: captureLogger(),
    recheckMs: 200,
  });
  await kc.makeApiClient(k8s.DiscoveryV1Api).createNamespacedEndpointSlice({
    namespace: NS,
    body: {
      metadata: { name: 'traffic-manager-1', labels: { 'kubernetes.io/service-name': 'traffic-manager' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [hostIP!], conditions: { ready: true } }],
      ports: [{ name: 'webhook', port: wh.port, protocol: 'TCP' }],
    },
  });
});

test.after.always(async () => {
  await wh?.close();
  await api?.stop();
});

/** An app container that meets "restricted" by itself, its pod saying nothing. */
const COMPLIANT: k8s.V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};
const TEMPLATE_SPEC = (sc: k8s.V1SecurityContext | undefined): k8s.V1PodSpec => ({
  serviceAccountName: 'default',
  containers: [
    {
      name: 'echo',
      image: 'tp.local/echo:0.1.0',
      ports: [{ name: 'http', containerPort: 8080 }],
      readinessProbe: { httpGet: { path: '/ready', port: 'http' as unknown as number } },
      ...(sc ? { securityContext: sc } : {}),
    },
  ],
});
const MANAGER = { host: 'traffic-manager.tp-system', port: 8082 };

let n = 0;
/** A pod of the workload as its ReplicaSet would create it: the template with the agent config. */
async function createPod(config: AgentConfig, spec: k8s.V1PodSpec): Promise<k8s.V1Pod> {
  return kc.makeApiClient(k8s.CoreV1Api).createNamespacedPod({
    namespace: STRICT,
    body: {
      metadata: {
        name: `echo-${n++}`,
        labels: { app: 'echo', [AGENT_LABEL]: AGENT_LABEL_VALUE },
        annotations: { [AGENT_CONFIG_ANNOTATION]: serializeAgentConfig(config) },
      },
      spec,
    },
  });
}

/** What the manager plans for this namespace, from what it reads of the real API server. */
async function plan(spec: k8s.V1PodSpec) {
  return planAgentConfig({
    workload: { kind: 'Deployment', name: 'echo', namespace: STRICT },
    spec,
    current: undefined,
    kind: 'intercept',
    remotePorts: ['http'],
    others: [],
    manager: MANAGER,
    podSecurity: await podSecurityEnforce(kc, STRICT),
    services: await listServices(kc, STRICT),
    podLabels: { app: 'echo' },
  });
}

maybe(
  "#16: in a restricted namespace a port targeted by name is taken over, and the API server's PodSecurity admission accepts the injected pod",
  async (t) => {
    t.is(await podSecurityEnforce(kc, STRICT), 'restricted');
    const { config } = await plan(TEMPLATE_SPEC(COMPLIANT));
    t.deepEqual(config.ports, [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http', mode: 'name', appName: 'tp-http' }]);

    // Until the API server has the webhook's caBundle, failurePolicy Ignore admits pods uninjected.
    const pod = await until('an injected pod', async () => {
      const p = await createPod(config, TEMPLATE_SPEC(COMPLIANT));
      return p.spec!.containers.some((c) => c.name === 'tp-agent') ? p : undefined;
    });
    t.deepEqual(
      pod.spec!.containers.map((c) => c.name),
      ['echo', 'tp-agent'],
    );
    t.is(pod.spec!.initContainers, undefined, 'no NET_ADMIN init container');
    t.deepEqual(
      pod.spec!.containers[0]!.ports!.map((p) => p.name),
      ['tp-http'],
    );
    t.like(pod.spec!.containers[1]!.ports![0], { name: 'http', containerPort: 9900 });
    t.like(pod.spec!.containers[0]!.readinessProbe!.httpGet, { port: 8080 });

    // The same pod with its pod-level context carrying the restricted settings passes too.
    const podLevel = TEMPLATE_SPEC({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    podLevel.securityContext = { runAsNonRoot: true, runAsUser: 2000, seccompProfile: { type: 'RuntimeDefault' } };
    t.true((await createPod(config, podLevel)).spec!.containers.some((c) => c.name === 'tp-agent'));
  },
);

maybe(
  '#16: the agent passes "restricted" on its own: for an app that sets nothing, PodSecurity names only the app\'s container',
  async (t) => {
    const { config } = await plan(TEMPLATE_SPEC(COMPLIANT));
    await until('the webhook', async () => {
      const p = await createPod(config, TEMPLATE_SPEC(COMPLIANT));
      return p.spec!.containers.some((c) => c.name === 'tp-agent') ? true : undefined;
    });
    const err = await t.throwsAsync(createPod(config, TEMPLATE_SPEC(undefined)));
    const message = messageOf(err);
    t.regex(message, /violates PodSecurity "restricted:latest"/);
    t.regex(message, /container "echo" must/, 'the app breaks it');
    t.notRegex(message, /"tp-agent"/, message);
  },
);

maybe(
  '#16: the API server refuses the init container in a restricted namespace (what taking ports over by name avoids); a numeric targetPort is refused by the planner first',
  async (t) => {
    const { config } = await plan(TEMPLATE_SPEC(COMPLIANT));
    const redirected: AgentConfig = { ...config, ports: config.ports.map(({ mode: _m, appName: _a, ...p }) => p) };
    await until('the webhook', async () => {
      const p = await createPod(config, TEMPLATE_SPEC(COMPLIANT));
      return p.spec!.containers.some((c) => c.name === 'tp-agent') ? true : undefined;
    });
    const err = await t.throwsAsync(createPod(redirected, TEMPLATE_SPEC(COMPLIANT)));
    t.regex(messageOf(err), /violates PodSecurity "restricted:latest".*container "tp-agent-init" must not include "NET_ADMIN"/);

    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedService({
      namespace: STRICT,
      body: {
        metadata: { name: 'numbered' },
        spec: { selector: { app: 'echo' }, ports: [{ port: 8080, targetPort: 8080 as unknown as k8s.IntOrString }] },
      },
    });
    const refused = await t.throwsAsync(plan(TEMPLATE_SPEC(COMPLIANT)));
    t.regex(
      refused!.message,
      /^port 8080 of deployment\/echo cannot be engaged: namespace strict enforces Pod Security "restricted", .* Service numbered targets it by number; make http the targetPort of Service numbered .* or allow the init container by labelling namespace strict pod-security\.kubernetes\.io\/enforce=privileged/,
    );
    await core.deleteNamespacedService({ namespace: STRICT, name: 'numbered' });
  },
);
