// Loaded with `node --import` into programs that `tp connect --socks -- CMD` runs: Node's fetch
// ignores HTTP(S)_PROXY before Node 24, so this routes it through tp's proxy like curl would be.
import { EnvHttpProxyAgent, setGlobalDispatcher } from 'undici';

setGlobalDispatcher(new EnvHttpProxyAgent());
