import { promises as dns, lookup as systemLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { RuleViolation, type Problem } from '@flotilla/domain';
import type { PlatformConfig } from './config';

/** What an http(s) Agent's `lookup` option is called with. */
type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** Code of the connection error when the resolved address is refused: the call fails before a byte is sent. */
export const OUTBOUND_DENIED = 'EOUTBOUNDDENIED';

export interface OutboundSettings {
  readonly deny: readonly string[];
  readonly allow: readonly string[];
  /** `host:port` of the DNS servers to ask; empty: the system resolver (getaddrinfo). */
  readonly dnsServers: readonly string[];
}

/**
 * Where the platform's outbound calls (workflow targets, webhooks) may go. An address in a denied
 * CIDR (OUTBOUND_DENY) and not in an allowed one (OUTBOUND_ALLOW) is refused. URLs are checked at
 * registration (`urlProblems`), and again on every connection through `lookup`, the resolver of the
 * outbound agents: a host name that answered a fine address then and a denied one now (DNS
 * rebinding) is refused at connect time, against the address the socket would really use.
 */
export class OutboundRules {
  private readonly deny: BlockList;
  private readonly allow: BlockList;
  private readonly resolver: dns.Resolver | null;

  constructor(settings: OutboundSettings) {
    this.deny = blockListOf(settings.deny, 'OUTBOUND_DENY');
    this.allow = blockListOf(settings.allow, 'OUTBOUND_ALLOW');
    if (settings.dnsServers.length === 0) this.resolver = null;
    else {
      this.resolver = new dns.Resolver();
      this.resolver.setServers([...settings.dnsServers]);
    }
  }

  static of(config: PlatformConfig): OutboundRules {
    return new OutboundRules(OutboundRules.settingsOf(config));
  }

  /** The rules' settings in the configuration, as plain data (for a worker thread to make its own rules from). */
  static settingsOf(config: PlatformConfig): OutboundSettings {
    return { deny: config.outboundDeny, allow: config.outboundAllow, dnsServers: config.dnsServers };
  }

  /** Why `address` (an IP literal) is refused, or null when it may be called. */
  refusal(address: string): string | null {
    const plain = unmapped(address);
    const family = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
    if (!this.deny.check(plain, family) || this.allow.check(plain, family)) return null;
    return `${address} is in a denied range (OUTBOUND_DENY) and not allowed by OUTBOUND_ALLOW`;
  }

  /**
   * The rules at registration: the URL's host (an IP literal, or every address its name resolves
   * to now) must not be denied. A name that does not resolve is refused too: it could not be called.
   */
  async urlProblems(url: string, field: string): Promise<Problem[]> {
    const host = hostOf(url);
    // Only what could be called: another scheme is the domain's rule (http or https) to name.
    if (host === null || !/^https?:$/.test(new URL(url).protocol)) return [];
    const refused = (message: string): Problem[] => [{ code: 'outbound_denied', field, message: `${field} ${url}: ${message}` }];
    if (isIP(host) !== 0) {
      const refusal = this.refusal(host);
      return refusal === null ? [] : refused(refusal);
    }
    try {
      const addresses = await this.resolve(host);
      const refusal = addresses.map((entry) => this.refusal(entry.address)).find((text) => text !== null);
      return refusal === undefined || refusal === null ? [] : refused(`${host} resolves to ${refusal}`);
    } catch (error) {
      return refused(`${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }

  /** `urlProblems` as a 422: throws `RuleViolation` naming the field and the URL. */
  async assertAllowed(url: string, field: string): Promise<void> {
    const problems = await this.urlProblems(url, field);
    if (problems.length > 0) throw new RuleViolation(problems[0]?.message ?? `${field} is refused`, problems);
  }

  /**
   * The `lookup` of the outbound agents: resolves, then refuses the connection when any address is
   * denied. IP literals never come here (net connects to them without a lookup): `hostRefusal`
   * checks those before the request is made.
   */
  readonly lookup = (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    this.resolve(hostname, options.family).then(
      (addresses) => {
        const refusal = addresses.map((entry) => this.refusal(entry.address)).find((text) => text !== null);
        if (refusal !== undefined && refusal !== null) {
          callback(deniedError(`${hostname} resolves to ${refusal}`), '', 0);
          return;
        }
        if (options.all === true) callback(null, addresses);
        else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };

  /** Why a URL whose host is an IP literal is refused now (null for a name: `lookup` checks it on connect). */
  hostRefusal(url: string): string | null {
    const host = hostOf(url);
    return host === null || isIP(host) === 0 ? null : this.refusal(host);
  }

  private async resolve(hostname: string, family?: number | string): Promise<LookupAddress[]> {
    const wanted = family === 4 || family === 'IPv4' ? 4 : family === 6 || family === 'IPv6' ? 6 : 0;
    // `localhost` is never asked of a DNS server (RFC 6761): the system resolves it.
    if (this.resolver === null || hostname.toLowerCase() === 'localhost') {
      return new Promise((resolve, reject) =>
        systemLookup(hostname, { all: true, family: wanted }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
      );
    }
    const resolver = this.resolver;
    // A family with no record (ENODATA) is an empty answer; the name is unknown only when neither has one.
    const ask = async (kind: 4 | 6): Promise<LookupAddress[]> => {
      const addresses = await (kind === 4 ? resolver.resolve4(hostname) : resolver.resolve6(hostname)).catch(() => []);
      return addresses.map((address) => ({ address, family: kind }));
    };
    const found = [...(wanted === 6 ? [] : await ask(4)), ...(wanted === 4 ? [] : await ask(6))];
    if (found.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
    return found;
  }
}

const deniedError = (message: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`outbound call refused: ${message}`), { code: OUTBOUND_DENIED });

/** The URL's host as an address or a name, without IPv6 brackets; null when it does not parse. */
const hostOf = (url: string): string | null => {
  if (!URL.canParse(url)) return null;
  const { hostname } = new URL(url);
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
};

/** `::ffff:169.254.169.254` is the IPv4 address it carries, and is judged as such. */
const unmapped = (address: string): string => {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match?.[1] ?? address;
};

/** `a.b.c.d/n`, `x::/n` or a bare address, into a BlockList; anything else stops the process at start, naming the variable. */
const blockListOf = (cidrs: readonly string[], variable: string): BlockList => {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', prefix, ...rest] = cidr.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
    if (family === 0 || rest.length > 0 || !/^\d+$/.test(prefix ?? '0') || bits > (family === 6 ? 128 : 32))
      throw new Error(`${variable}: ${JSON.stringify(cidr)} is not a CIDR (like 169.254.0.0/16 or fe80::/10)`);
    list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
};
