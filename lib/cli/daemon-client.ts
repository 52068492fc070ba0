// The CLI's side of the CLI↔user-daemon seam: typed calls over the unix socket, and starting the
// daemon on demand (detached, logging to its own file) when it is not running.
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonCallError, daemonSocketPath, logDir, type DaemonCalls, type DaemonError, type DaemonMethod } from '../common/rpc/daemon.js';

const USER_DAEMON_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'user', 'main.js');

export async function callDaemon<M extends DaemonMethod>(method: M, body: DaemonCalls[M]['request'], timeoutMs = 120_000): Promise<DaemonCalls[M]['response']> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: daemonSocketPath(), path: `/v1/${method}`, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(new DaemonCallError('E_DAEMON', `the user daemon sent an unreadable answer (HTTP ${res.statusCode})`, 'run `tp quit` and retry'));
          }
          if (res.statusCode === 200) return resolve(parsed as DaemonCalls[M]['response']);
          const e = parsed as DaemonError;
          reject(new DaemonCallError(e.error ?? 'E_DAEMON', e.message ?? `HTTP ${res.statusCode}`, e.hint));
        });
      },
    );
    req.on('timeout', () => req.destroy(new DaemonCallError('E_TIMEOUT', `the user daemon did not answer ${method} within ${timeoutMs / 1000} s`, `see ${join(logDir(), 'user-daemon.log')}`)));
    req.on('error', (err) => reject(err));
    req.end(payload);
  });
}

export async function daemonRunning(): Promise<boolean> {
  if (!existsSync(daemonSocketPath())) return false;
  try {
    await callDaemon('status', {}, 3_000);
    return true;
  } catch {
    return false;
  }
}

/** Starts the user daemon unless it runs; resolves once it answers. */
export async function ensureDaemon(): Promise<void> {
  if (await daemonRunning()) return;
  mkdirSync(logDir(), { recursive: true });
  const out = openSync(join(logDir(), 'user-daemon.stderr.log'), 'a');
  const child = spawn(process.execPath, [USER_DAEMON_MAIN], { detached: true, stdio: ['ignore', out, out], env: process.env });
  child.unref();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (await daemonRunning()) return;
    if (child.exitCode !== null) break;
  }
  throw new DaemonCallError('E_DAEMON_START', 'the user daemon did not start', `see ${join(logDir(), 'user-daemon.stderr.log')}`);
}
