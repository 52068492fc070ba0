// Public surface of the SOCKS5/HTTP proxy: the user daemon needs only these.
export { ProxyServer, ProxyListenError, type ProxyServerOptions } from './server.js';
export type { Credentials, LogFn, LogLevel, ProxyStats } from './types.js';
