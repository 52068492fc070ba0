// Name resolution as a pod in the client's namespace would see it: the cluster resolver from this
// pod's /etc/resolv.conf, the search list of `namespace` (`<ns>.svc.<domain>`, `svc.<domain>`,
// `<domain>`) and ndots:5, so `echo`, `echo.default` and the full name all answer like in a pod.
import { promises as dnsp } from 'node:dns';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { DnsResponse } from '../common/rpc/manager.js';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  ndots: number;
}

export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], ndots: 1 };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) conf.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') conf.search = rest;
    else if (key === 'options') {
      for (const o of rest) if (o.startsWith('ndots:')) conf.ndots = Number(o.slice(6)) || 1;
    }
  }
  return conf;
}

/** The names to try, in order, for `name` asked from `namespace` (resolv.conf semantics). */
export function candidates(name: string, namespace: string, clusterDomain: string, ndots = 5): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const search = [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
  const searched = search.map((s) => `${name}.${s}`);
  const dots = name.split('.').length - 1;
  if (name === clusterDomain || name.endsWith(`.${clusterDomain}`)) return [name];
  return dots >= ndots ? [name, ...searched] : [...searched, name];
}

const TTL_CAP = 5; // seconds: the workstation should notice Service changes quickly

export class ClusterResolver {
  readonly #resolver = new dnsp.Resolver({ timeout: 2000, tries: 2 });

  constructor(
    readonly clusterDomain: string,
    nameservers?: string[],
  ) {
    const servers = nameservers ?? parseResolvConf(readResolvConf()).nameservers;
    if (servers.length > 0) this.#resolver.setServers(servers);
  }

  async resolve(name: string, type: 'A' | 'AAAA', namespace: string): Promise<DnsResponse> {
    if (isIP(name)) return { canonical: name, addresses: [name], rcode: 'NOERROR', ttl: TTL_CAP };
    // NXDOMAIN as soon as one candidate was denied outright: the others failing (a resolver that
    // REFUSEs names outside the cluster's zones, as CoreDNS does without `forward`) changes nothing.
    let sawNotFound = false;
    for (const fqdn of candidates(name, namespace, this.clusterDomain)) {
      try {
        const recs = type === 'A' ? await this.#resolver.resolve4(fqdn, { ttl: true }) : await this.#resolver.resolve6(fqdn, { ttl: true });
        if (recs.length === 0) continue;
        const ttl = Math.min(TTL_CAP, ...recs.map((r) => r.ttl));
        return { canonical: fqdn, addresses: recs.map((r) => r.address), rcode: 'NOERROR', ttl };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENODATA') {
          // The name exists but has no record of this type: an empty NOERROR, as a resolver says.
          return { canonical: fqdn, addresses: [], rcode: 'NOERROR', ttl: TTL_CAP };
        }
        if (code === 'ENOTFOUND') sawNotFound = true;
      }
    }
    return { addresses: [], rcode: sawNotFound ? 'NXDOMAIN' : 'SERVFAIL', ttl: TTL_CAP };
  }
}

function readResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}
