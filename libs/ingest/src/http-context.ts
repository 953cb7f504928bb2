/** Who is calling, for the audit history: the key's `<team>/<name>` (X-Actor only with AUTH=disabled). */
export { actorOf } from '@flotilla/platform';
