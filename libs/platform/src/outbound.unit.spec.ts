import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_OUTBOUND_DENY } from './config';
import { OUTBOUND_DENIED, OutboundRules } from './outbound';

const rules = (deny: readonly string[] = DEFAULT_OUTBOUND_DENY, allow: readonly string[] = []): OutboundRules =>
  new OutboundRules({ deny, allow, dnsServers: [] });

describe('OutboundRules', () => {
  it('refuses link-local, metadata and 0.0.0.0/8 addresses by default, and lets loopback and private ranges through', () => {
    const defaults = rules();
    for (const address of ['169.254.169.254', '169.254.0.1', 'fe80::1', 'fd00:ec2::254', '0.0.0.0', '::ffff:169.254.169.254'])
      expect(defaults.refusal(address)).toContain('OUTBOUND_DENY');
    for (const address of ['127.0.0.1', '::1', '10.1.2.3', '192.168.1.1', '172.16.0.1', '93.184.216.34', 'fd00:ec2::253'])
      expect(defaults.refusal(address)).toBeNull();
  });

  it('opens exceptions with OUTBOUND_ALLOW and denies what OUTBOUND_DENY names', () => {
    const custom = rules(['10.0.0.0/8', '169.254.0.0/16'], ['10.1.0.0/16', '169.254.10.10']);
    expect(custom.refusal('10.2.0.1')).not.toBeNull();
    expect(custom.refusal('10.1.0.1')).toBeNull();
    expect(custom.refusal('169.254.10.10')).toBeNull();
    expect(custom.refusal('169.254.10.11')).not.toBeNull();
  });

  it('refuses a malformed CIDR at start, naming the variable', () => {
    expect(() => rules(['10.0.0.0/33'])).toThrow('OUTBOUND_DENY: "10.0.0.0/33" is not a CIDR');
    expect(() => rules([], ['example.com/8'])).toThrow('OUTBOUND_ALLOW: "example.com/8" is not a CIDR');
  });

  it('names the field and the URL of a denied registration, IP literal or resolved name', async () => {
    const defaults = rules();
    expect(await defaults.urlProblems('http://169.254.169.254/latest/meta-data', 'target.url')).toEqual([
      {
        code: 'outbound_denied',
        field: 'target.url',
        message: expect.stringContaining(
          'target.url http://169.254.169.254/latest/meta-data: 169.254.169.254 is in a denied range',
        ) as string,
      },
    ]);
    expect(await defaults.urlProblems('http://[fe80::1]:8080/', 'url')).toHaveLength(1);
    expect(await defaults.urlProblems('http://127.0.0.1:8080/x', 'url')).toEqual([]);
    expect(await defaults.urlProblems('http://localhost:8080/x', 'url')).toEqual([]);
    expect(await rules(['127.0.0.0/8', '::1/128']).urlProblems('http://localhost:8080/x', 'url')).toEqual([
      expect.objectContaining({ field: 'url', message: expect.stringContaining('localhost resolves to') as string }),
    ]);
    // Not http(s): the domain's rule names the scheme; nothing is resolved here.
    expect(await defaults.urlProblems('file:///etc/passwd', 'url')).toEqual([]);
  });

  describe('at connect time', () => {
    let server: Server;
    let port: number;
    let hits = 0;
    beforeAll(async () => {
      server = createServer((req, res) => {
        hits++;
        res.end('ok');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

    const get = (outbound: OutboundRules): Promise<string> =>
      new Promise((resolve, reject) => {
        const agent = new Agent({ lookup: outbound.lookup });
        const req = request(`http://localhost:${port}/`, { agent, family: 4 }, (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
        });
        req.on('error', (error: NodeJS.ErrnoException) => reject(error));
        req.end();
      });

    it('connects through the lookup when the resolved address is allowed', async () => {
      const before = hits;
      expect(await get(rules())).toBe('200');
      expect(hits).toBe(before + 1);
    });

    it('fails the connection, before a byte is sent, when the resolved address is denied', async () => {
      const before = hits;
      await expect(get(rules(['127.0.0.0/8', '::1/128']))).rejects.toMatchObject({ code: OUTBOUND_DENIED });
      expect(hits).toBe(before);
    });
  });
});
