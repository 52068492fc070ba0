// #15: uninstall leaves nothing — the webhook's Secret, which the manager makes at run time, is
// owned by the manager's Deployment (the garbage collector removes it with the Deployment; the
// e2e tier watches that happen: test/e2e/install/uninstall.test.ts). Here, against a real
// kube-apiserver: a new Secret carries the ownerReference, an older owner-less one is adopted on
// read, and a rotation (a full replace) keeps it.
import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { k8sSecretStore } from '../../../../lib/manager/webhook/k8s.js';
import { APISERVER_BINARIES, startApiServer, type TestApiServer } from '../../../helpers/apiserver.js';
import { missing, testNeeding } from '../../../helpers/binaries.js';

const NS = 'tp-system';
const NAME = 'tp-agent-injector-tls';
let api: TestApiServer | undefined;

test.before(async () => {
  if (missing(APISERVER_BINARIES).length === 0) api = await startApiServer('secret-owner');
});
test.after.always(async () => {
  await api?.stop();
});

const apiTest = testNeeding(APISERVER_BINARIES, { serial: true });
const bundle = { 'ca.crt': 'CA', 'tls.crt': 'CRT', 'tls.key': 'KEY' };

apiTest(
  "#15: the webhook Secret is owned by the manager's Deployment: on create, on rotation, and adopted when an older manager made it",
  async (t) => {
    const kc = api!.kc;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    const labels = { app: 'tm' };
    const dep = await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'traffic-manager' },
        spec: {
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'manager', image: 'x' }] } },
        },
      },
    });
    // Plain objects: client-node returns class instances, which deepEqual tells apart.
    const ownerOf = async () =>
      JSON.parse(
        JSON.stringify((await core.readNamespacedSecret({ name: NAME, namespace: NS })).metadata!.ownerReferences ?? null),
      ) as unknown;
    const expected = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'traffic-manager',
        uid: dep.metadata!.uid!,
        controller: false,
        blockOwnerDeletion: false,
      },
    ];

    await k8sSecretStore(kc, NS, NAME).create(bundle);
    t.deepEqual(await ownerOf(), expected, 'created with the owner');
    const rv = (await core.readNamespacedSecret({ name: NAME, namespace: NS })).metadata!.resourceVersion;
    await k8sSecretStore(kc, NS, NAME).replace(bundle, rv);
    t.deepEqual(await ownerOf(), expected, 'a rotation (PUT) keeps it');

    // What a manager before #15 left: the same Secret without an owner.
    await core.deleteNamespacedSecret({ name: NAME, namespace: NS });
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: NAME }, type: 'kubernetes.io/tls', data: { 'ca.crt': 'eA==', 'tls.crt': 'eA==', 'tls.key': 'eA==' } },
    });
    t.is(await ownerOf(), null);
    const read = await k8sSecretStore(kc, NS, NAME).read();
    t.deepEqual(read?.data, { 'ca.crt': 'x', 'tls.crt': 'x', 'tls.key': 'x' });
    t.deepEqual(await ownerOf(), expected, 'adopted on read');

    // Outside its chart (no Deployment of that name): a Secret without an owner, as before.
    await k8sSecretStore(kc, NS, 'other-tls', 'no-such-deployment').create(bundle);
    t.is((await core.readNamespacedSecret({ name: 'other-tls', namespace: NS })).metadata!.ownerReferences, undefined);
  },
);
