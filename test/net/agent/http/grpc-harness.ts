// gRPC on loopback for the agent's HTTP/2 router (issue #13): one hand-written service (JSON
// messages, no protoc) with the four call shapes, servers standing for the app and for the
// workstations of sessions, and a client whose one channel is one HTTP/2 connection to the agent.
import * as grpc from '@grpc/grpc-js';

export interface Msg {
  who?: string;
  text?: string;
  i?: number;
  n?: number;
  everyMs?: number;
  count?: number;
  sum?: number;
  dev?: string;
  deadlineMs?: number;
}

const ser = (m: Msg) => Buffer.from(JSON.stringify(m));
const de = (b: Buffer) => JSON.parse(b.toString()) as Msg;
const method = (name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Msg, Msg> => ({
  path: `/tp.test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: ser,
  requestDeserialize: de,
  responseSerialize: ser,
  responseDeserialize: de,
});

export const EchoService = {
  unary: method('Unary', false, false),
  count: method('Count', false, true),
  sum: method('Sum', true, false),
  chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(EchoService, 'Echo');
export type Client = InstanceType<typeof EchoClient> & {
  unary(m: Msg, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientUnaryCall;
  count(m: Msg, md: grpc.Metadata, o?: grpc.CallOptions): grpc.ClientReadableStream<Msg>;
  sum(md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientWritableStream<Msg>;
  chat(md: grpc.Metadata, o?: grpc.CallOptions): grpc.ClientDuplexStream<Msg, Msg>;
};

export interface Behaviour {
  /** Count: before each message, wait for this (instead of `everyMs`). */
  gate?: () => Promise<void>;
  /** Sum: do not read the request stream until this resolves (a slow handler: the stream's
   * window fills, and flow control, not the agent, holds the sender). */
  holdSum?: Promise<void>;
}

export interface GrpcOrigin {
  who: string;
  port: number;
  server: grpc.Server;
  /** Calls by method name. */
  calls: Record<string, number>;
  /** Calls the server saw cancelled (client cancel or deadline, passed on by the agent). */
  cancelled: string[];
  /** The deadline each Unary call carried, in ms from when the server got it (Infinity: none). */
  deadlines: number[];
  /** What each Sum call received: messages and their sum. */
  sums: Array<{ count: number; sum: number; dev: string }>;
  /** Sum calls whose handler is still reading. */
  summing: number;
  behaviour: Behaviour;
  close(): Promise<void>;
}

const dev = (call: { metadata: grpc.Metadata }) => String(call.metadata.get('x-dev')[0] ?? '');

export async function startGrpcOrigin(who: string): Promise<GrpcOrigin> {
  const server = new grpc.Server();
  const o: GrpcOrigin = {
    who,
    port: 0,
    server,
    calls: {},
    cancelled: [],
    deadlines: [],
    sums: [],
    summing: 0,
    behaviour: {},
    close: async () => {},
  };
  const seen = (name: string) => (o.calls[name] = (o.calls[name] ?? 0) + 1);
  server.addService(EchoService, {
    unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      seen('unary');
      const d = call.getDeadline();
      o.deadlines.push(d === Infinity ? Infinity : Number(d) - Date.now());
      call.on('cancelled', () => o.cancelled.push('unary'));
      if (call.request.text === 'hang') return; // never answers
      if (call.request.text === 'fail') {
        const md = new grpc.Metadata();
        md.set('x-detail', 'from ' + who);
        return cb({ code: grpc.status.FAILED_PRECONDITION, details: `refused by ${who}`, metadata: md });
      }
      cb(null, { who, text: call.request.text ?? '', dev: dev(call) });
    },
    count: async (call: grpc.ServerWritableStream<Msg, Msg>) => {
      seen('count');
      let cancelled = false;
      call.on('cancelled', () => {
        cancelled = true;
        o.cancelled.push('count');
      });
      const n = call.request.n ?? 0;
      for (let i = 0; i < n && !cancelled; i++) {
        if (o.behaviour.gate) await o.behaviour.gate();
        else if (call.request.everyMs) await new Promise((r) => setTimeout(r, call.request.everyMs));
        if (cancelled) break;
        if (!call.write({ who, i })) await new Promise((r) => call.once('drain', r));
      }
      if (!cancelled) call.end();
    },
    sum: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      seen('sum');
      o.summing++;
      let count = 0;
      let sum = 0;
      call.on('cancelled', () => o.cancelled.push('sum'));
      const read = () => {
        call.on('data', (m: Msg) => {
          count++;
          sum += m.i ?? 0;
        });
        call.on('end', () => {
          o.summing--;
          o.sums.push({ count, sum, dev: dev(call) });
          cb(null, { who, count, sum, dev: dev(call) });
        });
        call.resume(); // a 'data' listener does not resume a stream that pause() stopped
      };
      if (o.behaviour.holdSum) {
        call.pause();
        void o.behaviour.holdSum.then(read);
      } else read();
    },
    chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      seen('chat');
      call.on('data', (m: Msg) => call.write({ who, i: m.i, text: m.text }));
      call.on('end', () => call.end());
      call.on('cancelled', () => o.cancelled.push('chat'));
    },
  });
  o.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))),
  );
  o.close = () =>
    new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
      setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 1000).unref();
    });
  return o;
}

/** One channel (one HTTP/2 connection) to `port`. */
export function client(port: number): Client {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    // One connection, whatever grpc-js would otherwise decide.
    'grpc.use_local_subchannel_pool': 1,
  }) as Client;
}

export function md(devName?: string): grpc.Metadata {
  const m = new grpc.Metadata();
  if (devName !== undefined) m.set('x-dev', devName);
  return m;
}

export function unary(c: Client, m: Msg, meta: grpc.Metadata, o: grpc.CallOptions = {}): Promise<Msg> {
  return new Promise((resolve, reject) => c.unary(m, meta, o, (e, r) => (e ? reject(e) : resolve(r!))));
}

export async function collect<T>(s: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of s) out.push(x);
  return out;
}

export { grpc };
