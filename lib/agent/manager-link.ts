// The traffic agent's session with the manager (its agent port, HTTP/2): agentHello with the pod's
// projected token, then the event watch that carries the workload's engagements and SFTP requests.
// A lost connection is retried with backoff for as long as the pod lives; meanwhile the agent
// keeps routing by the last engagements it had, and new intercepted connections fail fast.
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { AGENT_TOKEN_DIR, AGENT_TOKEN_FILE } from '../common/agent-config.js';
import {
  AGENT_STREAMS,
  engagedPath,
  type AgentApi,
  type AgentEvent,
  type AgentHelloRequest,
  type AgentTrafficRequest,
} from '../common/rpc/agent.js';
import { pairPath } from '../common/rpc/manager.js';
import type { Logger } from '../common/log.js';
import { DialError } from '../proxy/dialer.js';
import { TunnelClient } from '../proxy/tunnel/client.js';

export interface ManagerLinkOptions {
  host: string;
  port: number;
  hello: Omit<AgentHelloRequest, 'token'>;
  tokenPath?: string;
  log: Logger;
}

/** Events: 'event' (AgentEvent), 'connected', 'lost'. */
export class ManagerLink extends EventEmitter {
  #client: TunnelClient<AgentApi> | undefined;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(private readonly o: ManagerLinkOptions) {
    super();
  }

  start(): void {
    void this.#connect(500);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#client?.close().catch(() => {});
  }

  get connected(): boolean {
    return this.#client !== undefined && !this.#client.closed;
  }

  async #connect(backoffMs: number): Promise<void> {
    if (this.#stopped) return;
    const { log } = this.o;
    try {
      const token = (await readFile(this.o.tokenPath ?? join(AGENT_TOKEN_DIR, AGENT_TOKEN_FILE), 'utf8')).trim();
      const client = await TunnelClient.connect<AgentApi>({
        host: this.o.host,
        port: this.o.port,
        peer: 'agent',
        connectTimeoutMs: 10_000,
      });
      try {
        await client.call('agentHello', { ...this.o.hello, token });
      } catch (err) {
        await client.close();
        throw err;
      }
      this.#client = client;
      log.info('connected to the traffic manager', { host: this.o.host, port: this.o.port });
      const watch = client.watch('agentEvents', {}, (e) => this.emit('event', e));
      watch.done.catch((err) => log.debug('agent event watch ended', { err }));
      client.once('close', () => {
        if (this.#client === client) this.#client = undefined;
        if (this.#stopped) return;
        log.warn('lost the traffic manager; reconnecting');
        this.emit('lost');
        this.#schedule(500);
      });
      this.emit('connected');
    } catch (err) {
      log.warn('cannot reach the traffic manager', {
        host: this.o.host,
        port: this.o.port,
        err: (err as Error).message,
        retryInMs: backoffMs,
      });
      this.#schedule(Math.min(backoffMs * 2, 10_000));
    }
  }

  #schedule(ms: number): void {
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.#connect(ms), ms);
    this.#retry.unref?.();
  }

  async applied(revision: number): Promise<void> {
    await this.#client?.call('agentApplied', { revision }).catch((err) => this.o.log.debug('agentApplied failed', { err }));
  }

  /** Reports engagement traffic (issue #13); rejects when no manager is connected or it refused. */
  async traffic(traffic: AgentTrafficRequest['traffic']): Promise<void> {
    const c = this.#client;
    if (!c) throw new DialError('unreachable', 'the traffic manager is not connected');
    await c.call('agentTraffic', { traffic });
  }

  /** A stream to the workstation that owns `engagementId`, for one accepted connection. */
  dialEngagement(engagementId: string, port: number, peer: string): Promise<Duplex> {
    const c = this.#client;
    if (!c) return Promise.reject(new DialError('unreachable', 'the traffic manager is not connected'));
    return c.openStream(AGENT_STREAMS.engaged, engagedPath(engagementId, port, peer), AbortSignal.timeout(15_000));
  }

  /** The stream that answers a manager request (SFTP) carrying `token`. */
  answer(token: string): Promise<Duplex> {
    const c = this.#client;
    if (!c) return Promise.reject(new DialError('unreachable', 'the traffic manager is not connected'));
    return c.openStream(AGENT_STREAMS.pair, pairPath(token), AbortSignal.timeout(15_000));
  }
}

export type { AgentEvent };
