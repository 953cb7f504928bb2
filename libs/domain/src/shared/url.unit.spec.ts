import { httpUrlProblems } from './url';

const codes = (url: string): string[] => httpUrlProblems(url, 'url').map((problem) => problem.code);

describe('the URL rule for targets and webhooks', () => {
  it.each([
    'http://127.0.0.1:8080/x?y=1#z',
    'https://example.com',
    'HTTPS://Example.com/hooks',
    'http://[::1]:3000/run',
    'http://localhost/a%20b',
  ])('accepts %s', (url) => {
    expect(httpUrlProblems(url, 'url')).toEqual([]);
  });

  it.each([
    // What the WHATWG parser reads leniently as http://127.0.0.1/ but nobody meant to write.
    'http:/127.0.0.1',
    'http:127.0.0.1',
    'http:///127.0.0.1',
    'http:\\\\127.0.0.1\\',
    ' http://127.0.0.1/',
    'http://127.0.0.1/ ',
    'http://127.0.0.1/\tx',
    'http://127.0.0.1/\nx',
    'http://exa mple.com/',
    // Not http(s), not absolute, not a URL.
    'ftp://example.com/x',
    'mailto:ops@example.com',
    '/hooks',
    'not a url',
    '',
    'http://',
    'http://host:99999/',
  ])('refuses %j as malformed, naming the field and the value', (url) => {
    expect(httpUrlProblems(url, 'target.url')).toEqual([
      { code: 'invalid_url', field: 'target.url', message: `target.url must be an absolute http or https URL, not ${JSON.stringify(url)}` },
    ]);
  });

  it.each(['http://user:pw@127.0.0.1/', 'https://user@example.com/', 'http://:pw@example.com/', 'http://@example.com/'])(
    'refuses credentials in %s, without echoing them',
    (url) => {
      expect(codes(url)).toEqual(['url_credentials']);
      expect(httpUrlProblems(url, 'url')[0]!.message).toBe('url must not carry credentials (user:password@)');
    },
  );

  it('an @ in the path or query is not a credential', () => {
    expect(httpUrlProblems('https://example.com/users/@ann?by=a@b', 'url')).toEqual([]);
  });
});
