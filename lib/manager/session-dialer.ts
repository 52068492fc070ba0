// The manager's outbound dialer for one client session: IP literals are dialed as they are; names
// are resolved in the session's namespace first (so `echo` means echo.<client ns>), and a name the
// cluster does not know fails as 'nxdomain' — the SOCKS proxy and the netstack report it as such.
import type { Duplex } from 'node:stream';
import { isIP } from 'node:net';
import { DialError, type Dialer, type UdpFlow } from '../proxy/dialer.js';
import type { AddressResolver } from './dns.js';

export class SessionDialer implements Dialer {
  constructor(
    private readonly direct: Dialer,
    private readonly resolver: AddressResolver,
    private readonly namespace: () => string,
  ) {}

  async #address(host: string): Promise<string> {
    if (isIP(host)) return host;
    const ns = this.namespace();
    const v4 = await this.resolver.resolve(host, 'A', ns);
    if (v4.addresses.length > 0) return v4.addresses[0]!;
    const v6 = await this.resolver.resolve(host, 'AAAA', ns);
    if (v6.addresses.length > 0) return v6.addresses[0]!;
    if (v4.rcode === 'SERVFAIL') throw new DialError('other', `the cluster's DNS failed to resolve ${host}`);
    throw new DialError('nxdomain', `${host} is not known in the cluster (namespace ${ns})`);
  }

  async dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    return this.direct.dialTcp(await this.#address(host), port, signal);
  }

  async dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> {
    return this.direct.dialUdp(await this.#address(host), port, signal);
  }
}
