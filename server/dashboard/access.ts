/**
 * Who may see the dashboard and the admin status: loopback callers (127.0.0.0/8, ::1, and IPv4-mapped
 * loopback, which is how a dual-stack socket reports 127.0.0.1) when the config allows it, and anyone who
 * presents the dashboard token. The same rule serves HTTP requests and socket.io handshakes, so the page and
 * its live feed can never disagree about access.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { digest, sameDigest } from '../join-tokens.ts';
import type { DashboardConfig } from './dashboard-config.ts';

export const DASHBOARD_TOKEN_HEADER = 'x-fedpeft-dashboard-token';

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return true;
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/** The token a caller presents: `?token=`, the dashboard header, or `Authorization: Bearer`. */
export function presentedToken(
  headers: IncomingHttpHeaders,
  query: URLSearchParams | null,
): string | undefined {
  const fromQuery = query?.get('token');
  if (fromQuery) return fromQuery;
  const header = headers[DASHBOARD_TOKEN_HEADER];
  if (typeof header === 'string' && header.length > 0) return header;
  const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '');
  return bearer?.[1];
}

export type AccessDecision = { ok: true; via: 'loopback' | 'token' } | { ok: false; reason: string };

export class DashboardAccess {
  private readonly tokenDigest: string | undefined;

  constructor(private readonly config: Pick<DashboardConfig, 'token' | 'allowLoopbackWithoutToken'>) {
    this.tokenDigest = config.token === undefined ? undefined : digest(config.token);
  }

  decide(address: string | undefined, token: string | undefined): AccessDecision {
    if (this.config.allowLoopbackWithoutToken && isLoopbackAddress(address))
      return { ok: true, via: 'loopback' };
    if (this.tokenDigest === undefined) {
      return {
        ok: false,
        reason: this.config.allowLoopbackWithoutToken
          ? 'the dashboard is open to loopback only; set dashboard.token in the coordinator config to view it from elsewhere'
          : 'the dashboard needs a token but none is configured; set dashboard.token in the coordinator config',
      };
    }
    // Digests have equal length whatever was sent, so the comparison takes constant time.
    if (token !== undefined && sameDigest(digest(token), this.tokenDigest)) return { ok: true, via: 'token' };
    return {
      ok: false,
      reason:
        token === undefined
          ? 'the dashboard needs its token: open /?token=<dashboard.token> (or send the X-Fedpeft-Dashboard-Token header)'
          : 'the dashboard token does not match dashboard.token',
    };
  }

  decideRequest(req: IncomingMessage): AccessDecision {
    const url = new URL(req.url ?? '/', 'http://localhost');
    return this.decide(req.socket.remoteAddress, presentedToken(req.headers, url.searchParams));
  }
}
