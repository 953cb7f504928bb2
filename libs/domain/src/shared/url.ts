import type { Problem } from './errors';

/**
 * The one rule for the URLs the platform calls (workflow targets, webhooks): an absolute http or
 * https URL, written as one. The WHATWG parser is lenient: it reads `http:/host`, `http:\\host`,
 * `http:///host` and ` http://host` (spaces, tabs and newlines dropped) as `http://host/`, so a
 * URL that only parses would be stored and shown in a form the caller never wrote. And a URL
 * carrying `user:password@` would be echoed by every read API, so credentials are refused.
 */
export const httpUrlProblems = (value: string, field: string): Problem[] => {
  const invalid = (): Problem[] => [
    { code: 'invalid_url', field, message: `${field} must be an absolute http or https URL, not ${JSON.stringify(value)}` },
  ];
  // Nothing the parser would silently drop or re-read: no whitespace or control characters, no
  // backslashes, and exactly two slashes after the scheme.
  const hasControl = [...value].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
  if (hasControl || /[\s\\]/.test(value) || !/^https?:\/\/[^/]/i.test(value) || !URL.canParse(value)) return invalid();
  const url = new URL(value);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return invalid();
  const authority = value.slice(value.indexOf('//') + 2).split(/[/?#]/, 1)[0] ?? '';
  if (authority.includes('@') || url.username !== '' || url.password !== '') {
    return [{ code: 'url_credentials', field, message: `${field} must not carry credentials (user:password@)` }];
  }
  return [];
};
