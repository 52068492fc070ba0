// Per-request (HTTP/1.1) and per-stream (HTTP/2) routing for the traffic agent: filtered intercepts and wiretaps.
export { HttpRouter, APP, agentResponse, DEFAULT_BUDGETS } from './router.js';
export type {
  Engagements,
  InterceptTarget,
  WiretapTarget,
  RouterOptions,
  RouterBudgets,
  RouterStats,
  DestStats,
  TapStats,
} from './router.js';
export { matches, pickIntercept, isUnfiltered, compileFilter, filterView, NEVER } from './filter.js';
export type { HttpFilter, FilterView } from './filter.js';
export { H2Hub, DEFAULT_H2_TUNING } from './h2.js';
export type { H2Stats, H2Tuning } from './h2.js';
export {
  BodyFramer,
  DEFAULT_LIMITS,
  HeadCollector,
  HttpParseError,
  parseRequestHead,
  parseResponseHead,
  requestBody,
  responseBody,
  keepsAlive,
  wantsSwitch,
  asksUpgrade,
  expectsContinue,
  sniffHttp,
} from './parse.js';
export type { Limits, Head, RequestHead, ResponseHead, BodyKind, ResponseKind } from './parse.js';
