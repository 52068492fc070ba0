// The webhook's HTTPS endpoint: POST /mutate-pods with an AdmissionReview, answered by mutate().
// No Kubernetes here: it is handed a certificate and can be handed another (rotation), so tests
// run it on loopback with a CA of their own.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/log.js';
import { mutate, type MutateOptions, type MutateResult } from './mutate.js';
import { DELETIONS_PATH, noteDeletion, type DeletionNote } from './deletions.js';

export const MUTATE_PATH = '/mutate-pods';
/** The API server sends one pod; 4 MiB is far above any pod spec it accepts (1.5 MiB etcd limit). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface ServingCert {
  cert: string;
  key: string;
}

export interface WebhookServer {
  readonly server: Server;
  /** Serves `tls` to new connections from now on. */
  setCertificate(tls: ServingCert): void;
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

export function createWebhookServer(opts: {
  tls: ServingCert;
  mutate: MutateOptions;
  onDeletion?: (n: DeletionNote) => void;
  log: Logger;
}): WebhookServer {
  const { log } = opts;
  const server = createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res, opts, log).catch((err) => {
      log.error('webhook request failed', { err });
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // The API server gives up after the webhook's timeoutSeconds (5) anyway.
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  server.on('tlsClientError', (err) => log.debug('webhook TLS handshake failed', { err }));
  server.on('clientError', (err, socket) => {
    log.debug('webhook client error', { err });
    socket.destroy();
  });
  return {
    server,
    setCertificate(tls) {
      server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
    },
    listen(port, host = '0.0.0.0') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address();
          resolve(typeof a === 'object' && a ? a.port : port);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { mutate: MutateOptions; onDeletion?: (n: DeletionNote) => void },
  log: Logger,
): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== MUTATE_PATH && path !== DELETIONS_PATH)
    return reply(res, 404, { error: `not found: ${path}; the agent injector serves POST ${MUTATE_PATH} and ${DELETIONS_PATH}` });
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return reply(res, 405, { error: `${req.method} is not allowed; use POST` });
  }
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === undefined) {
    // The rest of the body is never read: the connection ends with this answer.
    res.setHeader('connection', 'close');
    return reply(res, 413, { error: `the body is larger than ${MAX_BODY_BYTES} bytes` });
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return reply(res, 400, { error: `the body is not JSON: ${(err as Error).message}` });
  }
  if (path === DELETIONS_PATH) {
    const r = noteDeletion(json);
    if (!r.ok) return reply(res, 400, { error: r.error });
    if (r.note) {
      log.info('engagement deleted', { uid: r.note.uid, by: r.note.by });
      opts.onDeletion?.(r.note);
    }
    return reply(res, 200, r.review);
  }
  const result = mutate(json, opts.mutate);
  if (!result.ok) return reply(res, 400, { error: result.error });
  logOutcome(result, log);
  reply(res, 200, result.review);
}

/** The body, or undefined once it passes `max` bytes (reading stops there). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function logOutcome(r: Extract<MutateResult, { ok: true }>, log: Logger): void {
  const pod = r.pod.name ?? (r.pod.generateName ? `${r.pod.generateName}*` : '?');
  const o = r.outcome;
  switch (o.action) {
    case 'injected':
      log.info('agent injected', {
        pod,
        namespace: r.pod.namespace,
        workload: `${o.config.workload.kind}/${o.config.workload.name}`,
        container: o.config.container,
        replace: o.config.replace,
        ports: o.config.ports.map((p) => `${p.containerPort}/${p.protocol}->${p.agentPort}`),
        hash: o.hash,
      });
      break;
    case 'not-injected':
      log.warn('agent not injected', { pod, namespace: r.pod.namespace, reason: o.reason });
      break;
    case 'skipped':
      log.trace('pod admitted unchanged', { pod, namespace: r.pod.namespace, reason: o.reason });
      break;
  }
}
