/**
 * A client's identity in the run, which outlives any one connection: session id and (digest of the) token
 * for reconnects, its partial uploads (a `TransferInbox`, so an interrupted upload resumes from the
 * acknowledged prefix), what it reported, and the traffic it caused.
 */
import { randomBytes } from 'node:crypto';
import type { Capabilities } from '../shared/wire/messages.ts';
import type { Peer } from '../shared/wire/peer.ts';
import { TransferInbox, type TransferInboxLimits } from '../shared/wire/transfer-inbox.ts';
import { digest, sameDigest } from './join-tokens.ts';
import type { SessionRecord } from './checkpoint-store.ts';

/**
 * Session secrets come from the OS CSPRNG, not the run's seeded `Rng`: they must be unpredictable, while the
 * seeded generator exists to make everything else reproducible.
 */
export function newSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

export class ClientSession {
  peer: Peer | undefined;
  readonly inbox: TransferInbox;
  capabilities: Capabilities | undefined;
  /**
   * Whether this session's latest Join proved its derived state (or the method derives none). A session
   * that joined without a signature is admitted (it learns the run from the Welcome) but not sampled until
   * it joins again with one (docs/protocol.md, "Signatures").
   */
  signed = false;
  disconnectedAt: number | undefined;
  /**
   * `Join.client_name` of the latest Join ("" = none): the source of the stable client id the sampler uses
   * (server/participation/stable-client-id.ts). Not persisted: only connected sessions are sampled, and
   * every connection starts with a Join.
   */
  clientName = '';
  /** Traffic of connections that have closed; live traffic is read from `peer`. */
  private closedBytesUp = 0;
  private closedBytesDown = 0;
  private readonly counted = new WeakSet<Peer>();

  constructor(
    public record: SessionRecord,
    inboxLimits: TransferInboxLimits,
  ) {
    this.inbox = new TransferInbox(inboxLimits);
  }

  static create(
    clientName: string,
    joinTokenDigest: string,
    inboxLimits: TransferInboxLimits,
  ): { session: ClientSession; token: string } {
    const token = newSecret();
    const record: SessionRecord = {
      id: `s-${newSecret(9)}`,
      tokenDigest: digest(token),
      joinTokenDigest,
      clientName,
      lastCommittedRound: 0,
    };
    return { session: new ClientSession(record, inboxLimits), token };
  }

  get id(): string {
    return this.record.id;
  }

  get connected(): boolean {
    return this.peer?.isOpen ?? false;
  }

  verifyToken(token: string): boolean {
    return sameDigest(this.record.tokenDigest, digest(token));
  }

  /** Binds a new connection, closing a previous one still open (the client reconnected before we noticed). */
  bind(peer: Peer): void {
    if (this.peer && this.peer !== peer) {
      this.detach();
      this.peer?.close('superseded by a newer connection of the same session');
    }
    this.peer = peer;
    this.disconnectedAt = undefined;
    peer.setInbox(this.inbox);
  }

  /** Called when the bound connection closes. */
  detach(): void {
    if (!this.peer || this.counted.has(this.peer)) return;
    this.counted.add(this.peer);
    this.closedBytesUp += this.peer.bytesReceived;
    this.closedBytesDown += this.peer.bytesSent;
    this.peer.setInbox(undefined);
    this.disconnectedAt = Date.now();
  }

  bytesUp(): number {
    return this.closedBytesUp + (this.peer?.isOpen ? this.peer.bytesReceived : 0);
  }

  bytesDown(): number {
    return this.closedBytesDown + (this.peer?.isOpen ? this.peer.bytesSent : 0);
  }
}
