// The webhook's TLS: the API server calls the webhook over HTTPS and trusts only the caBundle of
// the MutatingWebhookConfiguration, so the manager makes its own CA and serving certificate,
// keeps them in a Secret (so a restarted or second manager pod serves the same ones) and writes
// the CA into caBundle. The chart ships caBundle empty: `helm upgrade` re-applies it empty, which
// is why the bundle is checked again on a timer, not only at start.
//
// Rotation: a certificate within RENEW_BEFORE_MS of its end is replaced by a new CA and serving
// certificate. The Secret's ca.crt then holds the new CA followed by the old one, so while the
// API server (or a manager pod that has not reloaded yet) still has the old pair, both verify.
//
// Keys are RSA-2048 made by Node's own crypto (native, ~0.1 s); node-forge only writes the
// certificates, since it signs with RSA only. Node's X509Certificate reads and checks them back.
import { createPrivateKey, generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import type { Logger } from '../../common/log.js';
import { TpError } from '../../common/errors.js';

export const CERT_VALIDITY_MS = 365 * 24 * 3600 * 1000;
export const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
/** notBefore is set this far back: the API server's clock may run behind the manager's. */
const BACKDATE_MS = 5 * 60 * 1000;

/** The Secret's keys, as a kubernetes.io/tls Secret (plus ca.crt) names them. All PEM. */
export interface CertBundle {
  'ca.crt': string;
  'tls.crt': string;
  'tls.key': string;
}

/** The names the API server (and anyone else) may call the webhook Service by. */
export function serviceDnsNames(serviceName: string, namespace: string, clusterDomain: string): string[] {
  return [`${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.${clusterDomain}`, `${serviceName}.${namespace}`];
}

/** The PEM blocks of a bundle, in order. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)?.map((b) => b + '\n') ?? [];
}

const keyPair = promisify(generateKeyPair);

async function rsaKey(): Promise<{ privatePem: string; forgePrivate: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey }> {
  const { privateKey, publicKey } = await keyPair('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    privatePem: privateKey,
    forgePrivate: forge.pki.privateKeyFromPem(privateKey),
    forgePublic: forge.pki.publicKeyFromPem(publicKey),
  };
}

/** A positive 127-bit serial (RFC 5280 §4.1.2.2: positive, at most 20 octets). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

/**
 * A new CA and a serving certificate for `dnsNames`, signed by it. The CA's key is dropped once
 * it has signed: the next rotation makes a new CA, so nothing else needs it.
 * `previousCA`, when still valid at `now`, is appended to ca.crt (see rotation above).
 */
export async function generateCertBundle(opts: {
  dnsNames: string[];
  now?: Date;
  validityMs?: number;
  previousCA?: string;
}): Promise<CertBundle> {
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + (opts.validityMs ?? CERT_VALIDITY_MS));
  const [caKey, leafKey] = await Promise.all([rsaKey(), rsaKey()]);

  const ca = forge.pki.createCertificate();
  ca.publicKey = caKey.forgePublic;
  ca.serialNumber = serial();
  ca.validity.notBefore = notBefore;
  ca.validity.notAfter = notAfter;
  // UTF8String: forge's default is PrintableString, whose alphabet Go's parser (the API server)
  // enforces strictly — an `@` in a name makes it refuse the whole caBundle.
  const cn = (value: string) => [{ name: 'commonName', value, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class }];
  const caName = cn(`tp-agent-injector-ca-${Math.floor(now.getTime() / 1000)}`);
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKey.forgePrivate, forge.md.sha256.create());

  const leaf = forge.pki.createCertificate();
  leaf.publicKey = leafKey.forgePublic;
  leaf.serialNumber = serial();
  leaf.validity.notBefore = notBefore;
  leaf.validity.notAfter = notAfter;
  leaf.setSubject(cn(opts.dnsNames[0] ?? 'tp-agent-injector'));
  leaf.setIssuer(caName);
  leaf.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // Go's TLS (the API server) ignores the CN: the names must be SANs (type 2: dNSName).
    { name: 'subjectAltName', altNames: opts.dnsNames.map((value) => ({ type: 2, value })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  leaf.sign(caKey.forgePrivate, forge.md.sha256.create());

  let caPem = pem(ca);
  const previous = opts.previousCA ? splitPem(opts.previousCA)[0] : undefined;
  if (previous && validAt(previous, now)) caPem += previous;
  return { 'ca.crt': caPem, 'tls.crt': pem(leaf), 'tls.key': leafKey.privatePem };
}

/** forge writes CRLF line ends; everything else here (and kubectl's view of the Secret) uses LF. */
const pem = (c: forge.pki.Certificate) => forge.pki.certificateToPem(c).replaceAll('\r\n', '\n');

function validAt(pem: string, now: Date): boolean {
  try {
    const c = new X509Certificate(pem);
    return new Date(c.validFrom) <= now && now < new Date(c.validTo);
  } catch {
    return false;
  }
}

/** The DNS names of a certificate's subjectAltName ("DNS:a, DNS:b"). */
export function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
}

export type CertDecision = { action: 'reuse' } | { action: 'create'; reason: string };

/**
 * Whether a stored bundle can be served as it is at `now`, or must be made anew (and why).
 * Made anew: missing or unparsable parts, a key that is not the certificate's, a certificate the
 * first CA of ca.crt did not sign, names other than `dnsNames`, not valid yet, or ending within
 * RENEW_BEFORE_MS (either the CA or the serving certificate).
 */
export function decideCert(stored: Partial<CertBundle> | undefined, dnsNames: readonly string[], now: Date): CertDecision {
  if (!stored) return { action: 'create', reason: 'no certificate stored yet' };
  for (const k of ['ca.crt', 'tls.crt', 'tls.key'] as const) {
    if (!stored[k]) return { action: 'create', reason: `the stored certificate has no ${k}` };
  }
  let ca: X509Certificate;
  let leaf: X509Certificate;
  try {
    ca = new X509Certificate(splitPem(stored['ca.crt']!)[0] ?? '');
    leaf = new X509Certificate(stored['tls.crt']!);
  } catch {
    return { action: 'create', reason: 'the stored certificate does not parse' };
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(stored['tls.key']!)))
      return { action: 'create', reason: "the stored key is not the certificate's" };
  } catch {
    return { action: 'create', reason: 'the stored key does not parse' };
  }
  if (!ca.ca || !leaf.checkIssued(ca) || !leaf.verify(ca.publicKey))
    return { action: 'create', reason: 'the stored certificate is not signed by the stored CA' };
  const have = dnsNamesOf(leaf);
  const missing = dnsNames.filter((n) => !have.includes(n));
  if (missing.length > 0)
    return { action: 'create', reason: `the stored certificate is for ${have.join(', ') || 'no DNS names'}, not ${missing.join(', ')}` };
  for (const [what, c] of [
    ['CA', ca],
    ['certificate', leaf],
  ] as const) {
    if (new Date(c.validFrom) > now) return { action: 'create', reason: `the stored ${what} is not valid before ${c.validFrom}` };
    if (new Date(c.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS)
      return { action: 'create', reason: `the stored ${what} expires ${c.validTo}` };
  }
  return { action: 'reuse' };
}

// ---- where the bundle and the caBundle live (client-node implementations in k8s.ts) ----

/** A write lost to another writer (HTTP 409): read again and decide again. */
export class ConflictError extends TpError {
  constructor(message = 'conflict') {
    super('E_CONFLICT', message);
    this.name = 'ConflictError';
  }
}

export interface SecretStore {
  /** undefined when the Secret does not exist. */
  read(): Promise<{ data: Partial<CertBundle>; resourceVersion?: string } | undefined>;
  /** Throws ConflictError when it exists already. */
  create(data: CertBundle): Promise<void>;
  /** Throws ConflictError when resourceVersion is no longer current. */
  replace(data: CertBundle, resourceVersion: string | undefined): Promise<void>;
}

export interface WebhookConfigStore {
  /** The webhooks' names and caBundles (base64 of PEM, as stored); undefined when the
   * configuration does not exist. */
  read(): Promise<Array<{ name: string; caBundle?: string }> | undefined>;
  /** An RFC 6902 patch of the configuration. */
  patch(ops: Array<{ op: 'add' | 'test'; path: string; value: unknown }>): Promise<void>;
}

/**
 * The bundle to serve: the stored one when decideCert keeps it, else a new one written back.
 * A lost create or update race (two manager pods during a rollout) reads the winner's bundle.
 */
export async function ensureServingCert(
  store: SecretStore,
  opts: { dnsNames: string[]; log: Logger; now?: () => Date },
): Promise<{ bundle: CertBundle; changed: boolean }> {
  const now = opts.now ?? (() => new Date());
  for (let attempt = 0; ; attempt++) {
    const stored = await store.read();
    const d = decideCert(stored?.data, opts.dnsNames, now());
    if (d.action === 'reuse') return { bundle: stored!.data as CertBundle, changed: false };
    const bundle = await generateCertBundle({
      dnsNames: opts.dnsNames,
      now: now(),
      ...(stored?.data['ca.crt'] ? { previousCA: stored.data['ca.crt'] } : {}),
    });
    try {
      if (stored) await store.replace(bundle, stored.resourceVersion);
      else await store.create(bundle);
      opts.log.info(stored ? 'webhook certificate rotated' : 'webhook certificate created', {
        reason: d.reason,
        dnsNames: opts.dnsNames,
        validTo: new X509Certificate(bundle['tls.crt']).validTo,
      });
      return { bundle, changed: true };
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 3) throw err;
      opts.log.debug('webhook certificate written by another pod meanwhile; reading it', { attempt });
    }
  }
}

/** Makes every webhook of the configuration trust `caPem`; patches only the entries that differ. */
export async function ensureCABundle(
  store: WebhookConfigStore,
  caPem: string,
): Promise<{ result: 'unchanged' | 'patched' | 'missing'; webhooks: string[] }> {
  const webhooks = await store.read();
  if (!webhooks) return { result: 'missing', webhooks: [] };
  const want = Buffer.from(caPem).toString('base64');
  const ops: Array<{ op: 'add' | 'test'; path: string; value: unknown }> = [];
  const fixed: string[] = [];
  webhooks.forEach((w, i) => {
    if (w.caBundle === want) return;
    // The test pins the index to the entry read: an edit that reorders webhooks meanwhile fails
    // the whole patch instead of giving our CA to the wrong one (the next check retries).
    ops.push(
      { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
      { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want },
    );
    fixed.push(w.name);
  });
  if (ops.length === 0) return { result: 'unchanged', webhooks: [] };
  await store.patch(ops);
  return { result: 'patched', webhooks: fixed };
}
