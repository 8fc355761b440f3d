/**
 * Sessions cost the coordinator memory and a line in sessions.json for as long as they exist, so they are
 * bounded: a join token holds at most `limits.maxSessionsPerToken` sessions (a new one evicts that token's
 * oldest idle session; when every one is connected the Join is RATE_LIMITED), and a session disconnected for
 * `limits.sessionExpiryMs` is forgotten. A session the open round still waits for is never evicted.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { ClientSession } from '../client-session.ts';
import type { ActiveRound } from '../engine/round-state.ts';
import type { Logger } from '../logger.ts';
import type { LimitsConfig } from './limits-config.ts';

export interface SessionLimitParts {
  sessions: Map<string, ClientSession>;
  limits: LimitsConfig;
  activeRound(): ActiveRound | undefined;
  logger: Logger;
}

export class SessionLimits {
  constructor(private readonly p: SessionLimitParts) {}

  private owed(s: ClientSession): boolean {
    const r = this.p.activeRound();
    return !!r && r.sampled.has(s.id) && !r.committed.has(s.id) && !r.dropped.has(s.id);
  }

  private forget(s: ClientSession, reason: string): void {
    s.inbox.abandonAll();
    this.p.sessions.delete(s.id);
    this.p.logger.log('info', 'session-forgotten', { session: s.id, reason });
  }

  /** Forgets sessions disconnected longer than the expiry; returns how many. */
  expire(now = Date.now()): number {
    let n = 0;
    for (const s of [...this.p.sessions.values()]) {
      if (s.connected || this.owed(s)) continue;
      if (s.disconnectedAt !== undefined && now - s.disconnectedAt > this.p.limits.sessionExpiryMs) {
        this.forget(s, 'expired');
        n++;
      }
    }
    return n;
  }

  /**
   * Called after `created` was admitted as a new session: evicts its token's oldest idle sessions beyond
   * the cap; when none is idle, forgets `created` itself and throws RATE_LIMITED.
   */
  enforceCap(created: ClientSession): void {
    const max = this.p.limits.maxSessionsPerToken;
    const sameToken = [...this.p.sessions.values()].filter(
      (s) => s.record.joinTokenDigest === created.record.joinTokenDigest,
    );
    let excess = sameToken.length - max;
    for (const s of sameToken) {
      if (excess <= 0) return;
      if (s === created || s.connected || this.owed(s)) continue;
      this.forget(s, 'session cap of its join token');
      excess--;
    }
    if (excess > 0) {
      this.forget(created, 'session cap of its join token');
      throw new FedpeftError(
        'RATE_LIMITED',
        `this join token already holds ${max} connected sessions (limits.maxSessionsPerToken); ` +
          'resume one of them (resume_session_id) instead of joining anew',
      );
    }
  }
}
