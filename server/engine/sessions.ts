/**
 * Client sessions: admission (join token, method capability, derived-state signature), session creation or
 * resumption (session token), the connection each session is bound to, `sessions.json` (written before a new
 * session's Welcome, so a restarted coordinator knows it), revocation and traffic totals.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../../shared/errors.ts';
import type { MessageBody } from '../../shared/wire/messages.ts';
import type { Peer } from '../../shared/wire/peer.ts';
import type { SessionRecord } from '../checkpoint-store.ts';
import { ClientSession } from '../client-session.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { JoinTokens } from '../join-tokens.ts';
import type { Logger } from '../logger.ts';
import type { MethodState } from '../method-state.ts';
import { assignStableIds } from '../participation/stable-client-id.ts';
import { sessionTransferBytes } from '../limits/upload-admission.ts';
import { SignatureGate } from './signatures.ts';

const SESSIONS_FILE = 'sessions.json';

export interface Admission {
  session: ClientSession;
  token: string;
  resumed: boolean;
  signed: boolean;
}

export class SessionRegistry {
  /** In creation order (restored in the same order): the oldest holder of a client name keeps it as its id. */
  readonly sessions = new Map<string, ClientSession>();
  readonly peers = new Set<Peer>();
  private readonly byPeer = new Map<Peer, ClientSession>();
  readonly signatures: SignatureGate;

  constructor(
    private readonly runDir: string,
    private readonly config: CoordinatorConfig,
    private readonly method: MethodState,
    private readonly tokens: JoinTokens,
    private readonly logger: Logger,
  ) {
    this.signatures = new SignatureGate(method, config);
  }

  get(id: string): ClientSession | undefined {
    return this.sessions.get(id);
  }

  of(peer: Peer): ClientSession | undefined {
    return this.byPeer.get(peer);
  }

  /** Forgets a closed connection; returns the session it was the live connection of, if any. */
  release(peer: Peer): ClientSession | undefined {
    this.peers.delete(peer);
    const session = this.byPeer.get(peer);
    this.byPeer.delete(peer);
    if (session && session.peer === peer) {
      session.detach();
      return session;
    }
    return undefined;
  }

  connected(): ClientSession[] {
    return [...this.sessions.values()].filter((s) => s.connected);
  }

  /** Stable client ids (docs/protocol.md) of every session, from the latest Join's client_name. */
  stableIds(): Map<string, string> {
    return assignStableIds(
      [...this.sessions.values()].map((s) => ({ sessionId: s.id, clientName: s.clientName })),
    );
  }

  /** Admits a Join on `peer` (throws a FedpeftError with the protocol code when it is refused). */
  async admit(peer: Peer, join: MessageBody<'join'>): Promise<Admission> {
    const admitted = this.tokens.verify(join.authToken);
    const { supportedMethods } = join.capabilities;
    if (supportedMethods.length > 0 && !supportedMethods.includes(this.method.method)) {
      throw new FedpeftError(
        'CAPABILITY_MISMATCH',
        `this run uses method '${this.method.method}'; the client supports ${supportedMethods.join(', ')}`,
      );
    }
    const signed = this.signatures.check(join);
    let session: ClientSession;
    let token: string;
    let resumed = false;
    if (join.resumeSessionId) {
      const known = this.sessions.get(join.resumeSessionId);
      if (!known) {
        throw new FedpeftError(
          'UNKNOWN_SESSION',
          `session ${join.resumeSessionId.slice(0, 64)} is unknown to this coordinator; join again without resume_session_id`,
        );
      }
      if (!known.verifyToken(join.resumeSessionToken)) {
        throw new FedpeftError('UNAUTHENTICATED', 'the session token does not match this session');
      }
      session = known;
      token = join.resumeSessionToken;
      resumed = true;
    } else {
      const created = ClientSession.create(
        join.clientName || admitted.name,
        admitted.digest,
        this.inboxLimits(),
      );
      session = created.session;
      token = created.token;
      this.sessions.set(session.id, session);
      await this.persist();
    }
    this.signatures.accept(join);
    session.capabilities = join.capabilities;
    session.clientName = join.clientName;
    session.signed = signed;
    const previous = session.peer;
    if (previous && previous !== peer) this.byPeer.delete(previous);
    session.bind(peer);
    this.byPeer.set(peer, session);
    if (join.clientName !== '' && this.stableIds().get(session.id) !== join.clientName) {
      this.logger.log('warn', 'duplicate-client-name', {
        session: session.id,
        client: join.clientName.slice(0, 64),
      });
    }
    return { session, token, resumed, signed };
  }

  records(): SessionRecord[] {
    return [...this.sessions.values()].map((s) => ({ ...s.record }));
  }

  async persist(): Promise<void> {
    await writeFileAtomic(join(this.runDir, SESSIONS_FILE), JSON.stringify(this.records()));
  }

  /** Restores the checkpoint's sessions, then those created after it (from sessions.json). */
  async restore(fromCheckpoint: readonly SessionRecord[]): Promise<void> {
    for (const rec of fromCheckpoint) this.sessions.set(rec.id, new ClientSession(rec, this.inboxLimits()));
    try {
      const records = JSON.parse(await readFile(join(this.runDir, SESSIONS_FILE), 'utf8')) as SessionRecord[];
      for (const rec of records) {
        const known = this.sessions.get(rec.id);
        if (known)
          known.record.lastCommittedRound = Math.max(known.record.lastCommittedRound, rec.lastCommittedRound);
        else this.sessions.set(rec.id, new ClientSession(rec, this.inboxLimits()));
      }
    } catch {
      // No sessions file: a run that never admitted anyone.
    }
  }

  /** Ends every session admitted by a revoked join token. */
  endSessionsOf(joinTokenDigest: string): void {
    for (const s of [...this.sessions.values()]) {
      if (s.record.joinTokenDigest !== joinTokenDigest) continue;
      s.peer?.send({
        kind: 'goodbye',
        body: { reason: 'the join token of this client was revoked', runComplete: true },
      });
      s.peer?.close('join token revoked');
      this.sessions.delete(s.id);
      this.logger.log('info', 'session-revoked', { session: s.id });
    }
    void this.persist().catch(() => undefined);
  }

  trafficTotals(): { up: number; down: number } {
    let up = 0;
    let down = 0;
    for (const s of this.sessions.values()) {
      up += s.bytesUp();
      down += s.bytesDown();
    }
    return { up, down };
  }

  private inboxLimits() {
    // Senders choose their chunk size (up to the protocol's MAX_CHUNK_BYTES); only the transfer size is ours.
    return {
      maxTransferBytes: this.config.transport.maxTransferBytes,
      maxOpenBytes: sessionTransferBytes(this.config),
    };
  }
}
