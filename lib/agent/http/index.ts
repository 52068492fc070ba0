// Per-request HTTP/1.1 routing for the traffic agent: filtered intercepts and wiretaps.
export { HttpRouter, APP, agentResponse, DEFAULT_BUDGETS } from './router.js';
export type { Engagements, InterceptTarget, WiretapTarget, RouterOptions, RouterBudgets, RouterStats, DestStats, TapStats } from './router.js';
export { matches, pickIntercept, isUnfiltered } from './filter.js';
export type { HttpFilter } from './filter.js';
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
