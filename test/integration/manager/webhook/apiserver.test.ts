// The agent injector against a real kube-apiserver (etcd + apiserver, envtest-style, as
// test/integration/helm/apiserver.test.ts): the chart's MutatingWebhookConfiguration and Service,
// startWebhook making its Secret and patching the caBundle through client-node, and the API server
// itself calling the webhook over TLS — so the patch is applied and the pod validated by
// Kubernetes' own code. No kubelet: pods are stored, never run. Without the binaries: a failure in
// CI, a skip elsewhere (test/helpers/binaries.ts).
//
// The API server reaches the webhook through the Service's Endpoints (--enable-aggregator-routing
// makes webhook calls resolve endpoints instead of the ClusterIP), which point at this host's
// first non-loopback IPv4: Endpoints may not hold loopback addresses.
import test from 'ava';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { AGENT_CONFIG_ANNOTATION, AGENT_INJECTED_ANNOTATION, serializeAgentConfig } from '../../../../lib/common/agent-config.js';
import { renderChart } from '../../../../lib/helm/chart.js';
import { userValues } from '../../../../lib/helm/values.js';
import { agentConfigHash } from '../../../../lib/manager/webhook/mutate.js';
import { startWebhook, type RunningWebhook } from '../../../../lib/manager/webhook/start.js';
import { captureLogger, CONFIG } from '../../../unit/manager/webhook/harness.js';
import { APISERVER_BINARIES, startApiServer, type TestApiServer } from '../../../helpers/apiserver.js';
import { missing, testNeeding } from '../../../helpers/binaries.js';

const CHART = fileURLToPath(new URL('../../../../../helm/', import.meta.url));
const hostIP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
// Not a binary: a host without a non-loopback IPv4 cannot run this test anywhere, so it skips
// with the reason in its title.
const ready = missing(APISERVER_BINARIES).length === 0 && hostIP !== undefined;

const NS = 'tp-system';
let api: TestApiServer | undefined;
let kc: k8s.KubeConfig;

test.before(async () => {
  if (!ready) return;
  api = await startApiServer('webhook-apiserver', ['--enable-aggregator-routing=true']);
  kc = api.kc;
});

test.after.always(async () => {
  await api?.stop();
});

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
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `; last error: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

maybe("the API server calls the injector with the chart's configuration and stores the injected pod", async (t) => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  for (const name of [NS, 'team']) await core.createNamespace({ body: { metadata: { name } } });
  // The chart's own webhook configuration and Service, as `tp helm install` renders them.
  const objs = renderChart(CHART, { releaseName: 'traffic-manager', namespace: NS, values: userValues({}) }).manifests.map((m) => m.object);
  const cfg = objs.find((o) => o.kind === 'MutatingWebhookConfiguration') as unknown as k8s.V1MutatingWebhookConfiguration;
  const svc = objs.find((o) => o.kind === 'Service') as unknown as k8s.V1Service;
  await admission.createMutatingWebhookConfiguration({ body: cfg });
  await core.createNamespacedService({ namespace: NS, body: svc });

  const log = captureLogger();
  let wh: RunningWebhook | undefined;
  t.teardown(() => wh?.close());
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
    logLevel: 'info',
    log,
    recheckMs: 200,
  });
  // What the EndpointSlice controller would write for the manager pod (none runs here).
  await kc.makeApiClient(k8s.DiscoveryV1Api).createNamespacedEndpointSlice({
    namespace: NS,
    body: {
      metadata: { name: 'traffic-manager-1', labels: { 'kubernetes.io/service-name': 'traffic-manager' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [hostIP!], conditions: { ready: true } }],
      ports: [{ name: 'webhook', port: wh.port, protocol: 'TCP' }],
    },
  });

  const secret = await core.readNamespacedSecret({ name: 'tp-agent-injector-tls', namespace: NS });
  t.is(secret.type, 'kubernetes.io/tls');
  t.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  const caBundle = async () =>
    (await admission.readMutatingWebhookConfiguration({ name: cfg.metadata!.name! })).webhooks![0]!.clientConfig.caBundle;
  t.is(await caBundle(), secret.data!['ca.crt'], "caBundle is the Secret's ca.crt");

  const body = (name: string, annotations: Record<string, string>): k8s.V1Pod => ({
    metadata: { name, annotations, ...(annotations[AGENT_CONFIG_ANNOTATION] ? { labels: { 'tp.dev/agent': 'enabled' } } : {}) },
    // The ServiceAccount admission plugin (off here) would set it; a token volume requires it.
    spec: {
      serviceAccountName: 'default',
      containers: [
        { name: 'echo', image: 'ghcr.io/example/echo:1', ports: [{ name: 'http', containerPort: 8080 }], env: [{ name: 'A', value: 'x' }] },
      ],
    },
  });
  // The API server may take a moment to see the new caBundle: until then failurePolicy Ignore
  // lets pods through uninjected, so retry with fresh names.
  let n = 0;
  const injected = await until('an injected pod', async () => {
    const p = await core.createNamespacedPod({
      namespace: 'team',
      body: body(`echo-${n++}`, { [AGENT_CONFIG_ANNOTATION]: serializeAgentConfig(CONFIG) }),
    });
    return p.spec!.containers.some((c) => c.name === 'tp-agent') ? p : undefined;
  });
  t.deepEqual(
    injected.spec!.containers.map((c) => c.name),
    ['echo', 'tp-agent'],
  );
  t.deepEqual(
    injected.spec!.initContainers!.map((c) => c.name),
    ['tp-agent-init'],
  );
  t.is(injected.metadata!.annotations![AGENT_INJECTED_ANNOTATION], agentConfigHash(CONFIG));
  t.true(
    injected.spec!.volumes!.some(
      (v) => v.name === 'tp-agent-token' && v.projected?.sources?.[0]?.serviceAccountToken?.audience === 'tp-traffic-manager',
    ),
  );
  t.truthy(log.lines.find((l) => l.msg === 'agent injected'));

  const plain = await core.createNamespacedPod({ namespace: 'team', body: body('plain', {}) });
  t.deepEqual(
    plain.spec!.containers.map((c) => c.name),
    ['echo'],
  );

  const replaced = await core.createNamespacedPod({
    namespace: 'team',
    body: body('replaced', { [AGENT_CONFIG_ANNOTATION]: serializeAgentConfig({ ...CONFIG, replace: true }) }),
  });
  t.deepEqual(
    replaced.spec!.containers.map((c) => c.name),
    ['tp-agent'],
  );
  t.like(replaced.spec!.containers[0]!.ports![0], { name: 'http', containerPort: 8080, protocol: 'TCP' });

  // `helm upgrade` re-applies the chart, whose caBundle is empty: the injector puts it back.
  await admission.replaceMutatingWebhookConfiguration({
    name: cfg.metadata!.name!,
    body: {
      ...cfg,
      metadata: {
        ...cfg.metadata,
        resourceVersion: (await admission.readMutatingWebhookConfiguration({ name: cfg.metadata!.name! })).metadata!.resourceVersion,
      },
    },
  });
  t.falsy(await caBundle());
  await until('the caBundle repair', async () => ((await caBundle()) === secret.data!['ca.crt'] ? true : undefined));
  t.truthy(log.lines.find((l) => l.msg === 'webhook caBundle repaired'));

  // A restarted manager reuses the Secret instead of making a new CA.
  await wh.close();
  wh = await startWebhook({
    kc,
    namespace: NS,
    serviceName: 'traffic-manager',
    clusterDomain: 'cluster.local',
    port: 0,
    host: '127.0.0.1',
    secretName: 'tp-agent-injector-tls',
    webhookConfigName: cfg.metadata!.name!,
    agentImage: 'x',
    log,
  });
  t.is(
    (await core.readNamespacedSecret({ name: 'tp-agent-injector-tls', namespace: NS })).metadata!.resourceVersion,
    secret.metadata!.resourceVersion,
  );
});
