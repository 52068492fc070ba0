import test from 'ava';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  CERT_VALIDITY_MS,
  ConflictError,
  decideCert,
  dnsNamesOf,
  ensureCABundle,
  ensureServingCert,
  generateCertBundle,
  RENEW_BEFORE_MS,
  serviceDnsNames,
  splitPem,
  type CertBundle,
  type SecretStore,
  type WebhookConfigStore,
} from '../../../../lib/manager/webhook/cert.js';
import { applyPatch, captureLogger } from './harness.js';

const NAMES = serviceDnsNames('traffic-manager', 'tp-system', 'cluster.local');
const NOW = new Date('2026-03-01T12:00:00Z');
const DAY = 24 * 3600 * 1000;

// Key generation is the slow part (~0.1 s a bundle): make the shared ones once.
const bundles = Promise.all([generateCertBundle({ dnsNames: NAMES, now: NOW }), generateCertBundle({ dnsNames: NAMES, now: NOW })]);

test('the serving certificate names the Service as the API server calls it, with the configured cluster domain', (t) => {
  t.deepEqual(serviceDnsNames('traffic-manager', 'tp-system', 'corp.example'), [
    'traffic-manager.tp-system.svc',
    'traffic-manager.tp-system.svc.corp.example',
    'traffic-manager.tp-system',
  ]);
});

test('the CA signs the serving certificate, which carries the SANs, serverAuth and the key, for about a year', async (t) => {
  const [b] = await bundles;
  const ca = new X509Certificate(b['ca.crt']);
  const leaf = new X509Certificate(b['tls.crt']);
  t.true(ca.ca);
  t.false(leaf.ca);
  t.true(leaf.checkIssued(ca));
  t.true(leaf.verify(ca.publicKey));
  t.true(ca.verify(ca.publicKey), 'the CA is self-signed');
  t.true(leaf.checkPrivateKey(createPrivateKey(b['tls.key'])));
  t.deepEqual(dnsNamesOf(leaf), NAMES);
  t.true(leaf.checkHost('traffic-manager.tp-system.svc') !== undefined);
  t.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  const from = new Date(leaf.validFrom).getTime();
  const to = new Date(leaf.validTo).getTime();
  t.true(from <= NOW.getTime() && from >= NOW.getTime() - 10 * 60_000, 'backdated a little for clock skew');
  t.true(Math.abs(to - NOW.getTime() - CERT_VALIDITY_MS) < 1000);
  t.is(splitPem(b['ca.crt']).length, 1);
});

test('names are UTF8Strings: Go (the API server) refuses a caBundle whose PrintableString holds other characters', async (t) => {
  const [b] = await bundles;
  const raw = new X509Certificate(b['ca.crt']).raw;
  const cn = Buffer.from('tp-agent-injector-ca-');
  const at = raw.indexOf(cn);
  t.true(at > 2);
  t.is(raw[at - 2], 0x0c, 'UTF8String tag before the CN');
});

test('decideCert: a fresh bundle for the same names is reused', async (t) => {
  const [b] = await bundles;
  t.deepEqual(decideCert(b, NAMES, NOW), { action: 'reuse' });
  t.deepEqual(
    decideCert(b, NAMES, new Date(NOW.getTime() + CERT_VALIDITY_MS - RENEW_BEFORE_MS - DAY)),
    { action: 'reuse' },
    'still 31 days to go',
  );
});

test('decideCert: missing, partial or unparsable bundles are made anew', async (t) => {
  const [b] = await bundles;
  t.deepEqual(decideCert(undefined, NAMES, NOW), { action: 'create', reason: 'no certificate stored yet' });
  t.deepEqual(decideCert({ ...b, 'tls.key': '' }, NAMES, NOW), { action: 'create', reason: 'the stored certificate has no tls.key' });
  t.deepEqual(decideCert({ ...b, 'tls.crt': 'garbage' }, NAMES, NOW), {
    action: 'create',
    reason: 'the stored certificate does not parse',
  });
  t.deepEqual(decideCert({ ...b, 'tls.key': 'garbage' }, NAMES, NOW), { action: 'create', reason: 'the stored key does not parse' });
});

test('decideCert: a key or CA that does not belong to the certificate means a new bundle', async (t) => {
  const [a, b] = await bundles;
  t.deepEqual(decideCert({ ...a, 'tls.key': b['tls.key'] }, NAMES, NOW), {
    action: 'create',
    reason: "the stored key is not the certificate's",
  });
  t.deepEqual(decideCert({ ...a, 'ca.crt': b['ca.crt'] }, NAMES, NOW), {
    action: 'create',
    reason: 'the stored certificate is not signed by the stored CA',
  });
});

test('decideCert: other names (another namespace or cluster domain) mean a new bundle', async (t) => {
  const [b] = await bundles;
  const d = decideCert(b, serviceDnsNames('traffic-manager', 'other', 'cluster.local'), NOW);
  t.is(d.action, 'create');
  t.regex(
    (d as { reason: string }).reason,
    /^the stored certificate is for traffic-manager\.tp-system\.svc, .*, not traffic-manager\.other\.svc, /,
  );
  t.is(decideCert(b, serviceDnsNames('traffic-manager', 'tp-system', 'corp.example'), NOW).action, 'create');
});

test('decideCert: within 30 days of the end, or before the start, the bundle is rotated', async (t) => {
  const [b] = await bundles;
  const end = new Date(new X509Certificate(b['tls.crt']).validTo).getTime();
  const d = decideCert(b, NAMES, new Date(end - RENEW_BEFORE_MS + DAY));
  t.is(d.action, 'create');
  t.regex((d as { reason: string }).reason, /^the stored CA expires /);
  t.regex((decideCert(b, NAMES, new Date(end + DAY)) as { reason: string }).reason, /expires/);
  t.regex((decideCert(b, NAMES, new Date(NOW.getTime() - DAY)) as { reason: string }).reason, /is not valid before/);
});

test('a rotated bundle trusts the new CA first and keeps the old one while it is valid', async (t) => {
  const [old] = await bundles;
  const later = new Date(NOW.getTime() + CERT_VALIDITY_MS - 10 * DAY);
  const next = await generateCertBundle({ dnsNames: NAMES, now: later, previousCA: old['ca.crt'] });
  const cas = splitPem(next['ca.crt']);
  t.is(cas.length, 2);
  t.is(cas[1], splitPem(old['ca.crt'])[0]);
  t.true(new X509Certificate(next['tls.crt']).checkIssued(new X509Certificate(cas[0]!)));
  t.deepEqual(decideCert(next, NAMES, later), { action: 'reuse' });
  // An expired previous CA is dropped, and only the first CA of a bundle is ever carried on.
  const much = new Date(NOW.getTime() + 2 * CERT_VALIDITY_MS);
  t.is(splitPem((await generateCertBundle({ dnsNames: NAMES, now: much, previousCA: next['ca.crt'] }))['ca.crt']).length, 1);
  t.is(splitPem((await generateCertBundle({ dnsNames: NAMES, now: later, previousCA: next['ca.crt'] }))['ca.crt']).length, 2);
});

/** An in-memory Secret with resourceVersions, like the API server's optimistic concurrency. */
function memorySecret(initial?: CertBundle): SecretStore & { data?: CertBundle; rv: number; writes: string[]; beforeWrite?: () => void } {
  const s = {
    data: initial,
    rv: 1,
    writes: [] as string[],
    beforeWrite: undefined as (() => void) | undefined,
    async read() {
      return s.data ? { data: { ...s.data }, resourceVersion: String(s.rv) } : undefined;
    },
    async create(d: CertBundle) {
      s.beforeWrite?.();
      if (s.data) throw new ConflictError();
      s.data = d;
      s.rv++;
      s.writes.push('create');
    },
    async replace(d: CertBundle, rv: string | undefined) {
      s.beforeWrite?.();
      if (rv !== String(s.rv)) throw new ConflictError();
      s.data = d;
      s.rv++;
      s.writes.push('replace');
    },
  };
  return s;
}

test('ensureServingCert creates the Secret when there is none, then reuses it', async (t) => {
  const store = memorySecret();
  const log = captureLogger();
  const first = await ensureServingCert(store, { dnsNames: NAMES, log, now: () => NOW });
  t.true(first.changed);
  t.deepEqual(store.writes, ['create']);
  t.is(log.lines.find((l) => l.level === 'info')?.msg, 'webhook certificate created');
  const second = await ensureServingCert(store, { dnsNames: NAMES, log, now: () => NOW });
  t.false(second.changed);
  t.deepEqual(second.bundle, first.bundle);
  t.deepEqual(store.writes, ['create']);
});

test('ensureServingCert rotates an expiring Secret in place, keeping the old CA in ca.crt', async (t) => {
  const [old] = await bundles;
  const store = memorySecret(old);
  const late = new Date(NOW.getTime() + CERT_VALIDITY_MS - 5 * DAY);
  const r = await ensureServingCert(store, { dnsNames: NAMES, log: captureLogger(), now: () => late });
  t.true(r.changed);
  t.deepEqual(store.writes, ['replace']);
  t.is(splitPem(store.data!['ca.crt'])[1], old['ca.crt']);
});

test("ensureServingCert: losing the create race to another manager pod serves the winner's bundle", async (t) => {
  const [theirs] = await bundles;
  const store = memorySecret();
  store.beforeWrite = () => {
    store.beforeWrite = undefined;
    store.data = theirs;
    store.rv++;
  };
  const r = await ensureServingCert(store, { dnsNames: NAMES, log: captureLogger(), now: () => NOW });
  t.false(r.changed);
  t.deepEqual(r.bundle, theirs);
  t.deepEqual(store.writes, []);
});

function memoryConfig(
  webhooks: Array<{ name: string; clientConfig: { caBundle?: string } }> | undefined,
): WebhookConfigStore & { obj: { webhooks: typeof webhooks } | undefined; patches: number } {
  const s = {
    obj: webhooks ? { webhooks } : undefined,
    patches: 0,
    async read() {
      return s.obj?.webhooks?.map((w) => ({ name: w.name, ...(w.clientConfig.caBundle ? { caBundle: w.clientConfig.caBundle } : {}) }));
    },
    async patch(ops: Array<{ op: string; path: string; value: unknown }>) {
      s.obj = applyPatch(s.obj, ops) as typeof s.obj;
      s.patches++;
    },
  };
  return s;
}

test('ensureCABundle sets the CA on every webhook that lacks it, and patches nothing when all have it', async (t) => {
  const [b] = await bundles;
  const want = Buffer.from(b['ca.crt']).toString('base64');
  const cfg = memoryConfig([
    { name: 'agent-injector.tp.dev', clientConfig: {} },
    { name: 'other.tp.dev', clientConfig: { caBundle: want } },
    { name: 'third.tp.dev', clientConfig: { caBundle: 'c3RhbGU=' } },
  ]);
  t.deepEqual(await ensureCABundle(cfg, b['ca.crt']), { result: 'patched', webhooks: ['agent-injector.tp.dev', 'third.tp.dev'] });
  t.true(cfg.obj!.webhooks!.every((w) => w.clientConfig.caBundle === want));
  t.deepEqual(await ensureCABundle(cfg, b['ca.crt']), { result: 'unchanged', webhooks: [] });
  t.is(cfg.patches, 1);
});

test('ensureCABundle: the patch pins each index to the webhook read, so a reordered list fails it instead of mixing CAs', async (t) => {
  const [b] = await bundles;
  const cfg = memoryConfig([{ name: 'agent-injector.tp.dev', clientConfig: {} }]);
  const read = cfg.read.bind(cfg);
  cfg.read = async () => {
    const r = await read();
    cfg.obj!.webhooks!.unshift({ name: 'inserted.example', clientConfig: {} });
    return r;
  };
  await t.throwsAsync(ensureCABundle(cfg, b['ca.crt']), { message: /test \/webhooks\/0\/name failed/ });
});

test('ensureCABundle reports a missing configuration instead of failing', async (t) => {
  const [b] = await bundles;
  t.deepEqual(await ensureCABundle(memoryConfig(undefined), b['ca.crt']), { result: 'missing', webhooks: [] });
});
