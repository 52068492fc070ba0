// What an API carried by the tunnel is (DESIGN.md §3): its type — calls and watches, request and
// response shapes — and its definition value — a validator per call and watch, and which calls a
// peer may make before it has authenticated. Each boundary writes one of these once, in its seam
// module (rpc/manager.ts for clients, rpc/agent.ts for agents), and the server that handles it
// and the client that calls it both import that module. The tunnel itself (lib/proxy/tunnel)
// knows no particular call.

export interface CallSpec {
  request: unknown;
  response: unknown;
}
export interface WatchSpec {
  request: unknown;
  event: unknown;
}
export interface ApiSpec {
  calls: Record<string, CallSpec>;
  watches: Record<string, WatchSpec>;
}
export type CallName<A extends ApiSpec> = keyof A['calls'] & string;
export type TopicName<A extends ApiSpec> = keyof A['watches'] & string;
export type CallRequest<A extends ApiSpec, M extends CallName<A>> = A['calls'][M]['request'];
export type CallResponse<A extends ApiSpec, M extends CallName<A>> = A['calls'][M]['response'];
export type WatchRequest<A extends ApiSpec, T extends TopicName<A>> = A['watches'][T]['request'];
export type WatchEvent<A extends ApiSpec, T extends TopicName<A>> = A['watches'][T]['event'];

/** Turns untrusted JSON into a request or throws one sentence (→ 400 with that sentence). */
export type Validator<R> = (body: unknown) => R;

/** The runtime half of an API: what the server checks before a handler sees a request. */
export interface ApiDefinition<A extends ApiSpec> {
  readonly calls: { readonly [M in CallName<A>]: Validator<CallRequest<A, M>> };
  readonly watches: { readonly [T in TopicName<A>]: Validator<WatchRequest<A, T>> };
  /** Calls a peer may make before the connection is authenticated (its hello). With a non-empty
   * list the server refuses every other stream of an unauthenticated connection at once, without
   * reading its body. */
  readonly unauthenticated: readonly CallName<A>[];
  /** Largest request body of an unauthenticated call: a hello is small, and nothing more of a
   * peer that has not proved who it is gets buffered. */
  readonly unauthenticatedBodyLimit?: number;
}

/** The ApiSpec of a tunnel that serves no calls (tests of flows only). */
export interface NoApi {
  calls: Record<never, CallSpec>;
  watches: Record<never, WatchSpec>;
}
export const NO_API: ApiDefinition<NoApi> = { calls: {}, watches: {}, unauthenticated: [] };
