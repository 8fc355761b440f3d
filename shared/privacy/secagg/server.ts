/**
 * The server side of secure aggregation (Bonawitz et al., CCS 2017, semi-honest variant), as a state machine
 * the coordinator drives; it decides when a phase closes (all expected messages in, or the deadline):
 *
 *   receiveAdvertiseKeys(m)*  closeAdvertiseKeys() -> roster for everyone in U1
 *   receiveShareKeys(m)*      closeShareKeys()     -> per-client forwarded ciphertexts (U2)
 *   receiveMaskedInput(m)*    closeMaskedInput()   -> unmask request for everyone in U3
 *   receiveUnmaskResponse(m)* finish()             -> the weighted sum
 *
 * What the server holds: public keys, ciphertexts it cannot open, masked vectors, ONE running sum of masked
 * vectors (memory independent of the number of clients), masks it expands from reconstructed seeds, and at
 * the very end the unmasked SUM. It never holds a client's unmasked vector: self masks are removed only from
 * the running sum, and a client's self-mask seed and mask key are never both reconstructed (clients enforce
 * this too). Every vector it holds is reported to `onVectorHeld`, so a test can check exactly that.
 *
 * Dropouts: clients in U2 that send no masked input are excluded (their pairwise masks are rebuilt from their
 * reconstructed mask key); clients that sent a masked input but do not answer the unmask request are still
 * included (their self mask is rebuilt from the others' shares). Each phase needs >= t clients, so up to
 * n - t dropouts in total are survived.
 *
 * NOT covered (honest note): this is the semi-honest ("honest-but-curious") protocol. The malicious-server
 * variant of the paper (signatures on keys under a PKI and the ConsistencyCheck round, which stop a server from
 * lying about who dropped or sending different survivor sets to different clients) is not implemented; nor is
 * verification that clients' inputs are well-formed (a malicious client can add any value within the ring), nor
 * protection against a server colluding with t or more clients. Client ids are taken from messages; the
 * transport must bind them to authenticated connections.
 */
import { combine } from 'shamir-secret-sharing';
import { bytesToHex as hex } from '@noble/hashes/utils.js';
import type { SecAggConfig, SecAggConfigInput } from './config.ts';
import type {
  SecAggAdvertiseKeys,
  SecAggEncryptedShare,
  SecAggKeyRoster,
  SecAggMaskedInput,
  SecAggRevealedShare,
  SecAggShareKeys,
  SecAggSharesForClient,
  SecAggUnmaskRequest,
  SecAggUnmaskResponse,
} from './messages.ts';
import type { FixedPointRing, RingVector } from './fixed-point-ring.ts';
import type { HostTensorMap } from '../../tensor/host-tensor.ts';
import { parseSecAggConfig } from './config.ts';
import {
  bytesEqual,
  checkPublicKey,
  pairwiseMaskSeed,
  precedes,
  publicKeyOf,
  seedCommitment,
} from './key-agreement.ts';
import { ENVELOPE_BYTES, SHARE_BYTES } from './share-envelope.ts';
import { chooseRing } from './fixed-point-ring.ts';
import { checkAdvertisement, checkRoster, checkSession } from './roster.ts';
import { secAggError } from './errors.ts';
import { layoutSize, unflattenUpdate } from '../update-vector.ts';

export type SecAggServerPhase =
  'advertise-keys' | 'share-keys' | 'masked-input' | 'unmask' | 'done' | 'failed';

/** One vector the server holds, for auditing. `values` is the live buffer: copy it to keep it. */
export interface HeldVector {
  kind: 'masked-input' | 'running-sum' | 'mask' | 'sum';
  /** Whose data (masked-input: the sender; running-sum: all folded in so far; sum: the survivors). */
  clientIds: string[];
  values: RingVector;
}

export interface SecAggServerOptions {
  onVectorHeld?: (held: HeldVector) => void;
}

export interface SecAggResult {
  /** Σ_u w_u·x_u over the included clients (U3), as float32 tensors in the configured layout. */
  sum: HostTensorMap;
  /** Σ_u w_u; the weighted mean is sum / totalWeight. */
  totalWeight: number;
  /** Clients whose inputs are in the sum (U3). */
  included: string[];
  /** Clients that shared keys but sent no masked input (U2 \ U3): excluded. */
  excluded: string[];
  /** Included clients that did not answer the unmask request (U3 \ U5): recovered from shares. */
  unresponsive: string[];
  /** Largest possible quantization error per coordinate of `sum` (before float32 rounding). */
  quantizationErrorBound: number;
  ringBits: 32 | 52;
}

export class SecAggServer {
  readonly config: SecAggConfig;
  private readonly onVectorHeld: ((held: HeldVector) => void) | undefined;
  private state: SecAggServerPhase = 'advertise-keys';
  private readonly advertised = new Map<string, SecAggAdvertiseKeys>();
  private readonly advertisedKeys = new Set<string>();
  private u1: string[] = [];
  private ring: FixedPointRing | undefined;
  private readonly shareKeys = new Map<string, SecAggShareKeys>();
  private u2: string[] = [];
  private runningSum: RingVector | undefined;
  private readonly maskedFrom = new Set<string>();
  private u3: string[] = [];
  private readonly responses = new Map<string, SecAggUnmaskResponse>();
  private readonly vectorLength: number;

  constructor(config: SecAggConfigInput, options: SecAggServerOptions = {}) {
    this.config = parseSecAggConfig(config);
    this.onVectorHeld = options.onVectorHeld;
    this.vectorLength = layoutSize(this.config.layout) + 1;
  }

  get phase(): SecAggServerPhase {
    return this.state;
  }

  /** Clients still expected in the current phase (to let the coordinator close a phase early). */
  get awaiting(): string[] {
    switch (this.state) {
      case 'advertise-keys':
        return [];
      case 'share-keys':
        return this.u1.filter((id) => !this.shareKeys.has(id));
      case 'masked-input':
        return this.u2.filter((id) => !this.maskedFrom.has(id));
      case 'unmask':
        return this.u3.filter((id) => !this.responses.has(id));
      default:
        return [];
    }
  }

  receiveAdvertiseKeys(msg: SecAggAdvertiseKeys): void {
    this.expect('advertise-keys');
    checkSession(this.config, msg.sessionId, 'AdvertiseKeys');
    checkAdvertisement(msg);
    if (this.advertised.has(msg.clientId)) {
      throw secAggError('SECAGG_DUPLICATE_CLIENT', `client '${msg.clientId}' already advertised keys`);
    }
    for (const key of [msg.encryptionPublicKey, msg.maskPublicKey]) {
      if (this.advertisedKeys.has(hex(key))) {
        throw secAggError(
          'SECAGG_DUPLICATE_CLIENT',
          `a public key of '${msg.clientId}' was already advertised by another client`,
        );
      }
    }
    checkPublicKey(msg.encryptionPublicKey, msg.clientId);
    checkPublicKey(msg.maskPublicKey, msg.clientId);
    this.advertised.set(msg.clientId, {
      sessionId: msg.sessionId,
      clientId: msg.clientId,
      encryptionPublicKey: msg.encryptionPublicKey.slice(),
      maskPublicKey: msg.maskPublicKey.slice(),
    });
    this.advertisedKeys.add(hex(msg.encryptionPublicKey));
    this.advertisedKeys.add(hex(msg.maskPublicKey));
  }

  closeAdvertiseKeys(): SecAggKeyRoster {
    this.expect('advertise-keys');
    const participants = [...this.advertised.values()].sort((a, b) =>
      precedes(a.clientId, b.clientId) ? -1 : 1,
    );
    this.guard(() => {
      checkRoster(this.config, participants);
      this.ring = chooseRing({ ...this.config, clients: participants.length });
    });
    this.u1 = participants.map((p) => p.clientId);
    this.state = 'share-keys';
    return { sessionId: this.config.sessionId, participants };
  }

  receiveShareKeys(msg: SecAggShareKeys): void {
    this.expect('share-keys');
    checkSession(this.config, msg.sessionId, 'ShareKeys');
    this.expectMember(msg.clientId, this.u1, 'advertised keys');
    if (this.shareKeys.has(msg.clientId))
      throw secAggError('SECAGG_DUPLICATE_CLIENT', `client '${msg.clientId}' already shared keys`);
    if (!(msg.selfMaskCommitment instanceof Uint8Array) || msg.selfMaskCommitment.length !== 32) {
      throw secAggError(
        'SECAGG_MALFORMED_SHARES',
        `self-mask commitment of '${msg.clientId}' must be 32 bytes`,
      );
    }
    const expected = new Set(this.u1.filter((id) => id !== msg.clientId));
    const seen = new Set<string>();
    for (const s of msg.encryptedShares) {
      if (s.senderId !== msg.clientId || !expected.has(s.recipientId) || seen.has(s.recipientId)) {
        throw secAggError(
          'SECAGG_MALFORMED_SHARES',
          `'${msg.clientId}' sent a share from '${s.senderId}' to '${s.recipientId}' (missing, duplicated or not in the roster)`,
        );
      }
      if (!(s.ciphertext instanceof Uint8Array) || s.ciphertext.length !== ENVELOPE_BYTES) {
        throw secAggError(
          'SECAGG_MALFORMED_SHARES',
          `share from '${msg.clientId}' to '${s.recipientId}' has the wrong length`,
        );
      }
      seen.add(s.recipientId);
    }
    if (seen.size !== expected.size) {
      throw secAggError(
        'SECAGG_MALFORMED_SHARES',
        `'${msg.clientId}' sent ${seen.size} shares, expected one for each of ${expected.size} peers`,
      );
    }
    this.shareKeys.set(msg.clientId, msg);
  }

  /** Fixes U2 and returns, for each of its members, the ciphertexts the other members of U2 sent it. */
  closeShareKeys(): SecAggSharesForClient[] {
    this.expect('share-keys');
    const u2 = this.u1.filter((id) => this.shareKeys.has(id));
    this.guard(() => {
      if (u2.length < this.config.threshold) {
        throw secAggError(
          'SECAGG_TOO_FEW_CLIENTS',
          `only ${u2.length} clients shared keys, the threshold is ${this.config.threshold}`,
        );
      }
    });
    this.u2 = u2;
    const inbox = new Map<string, SecAggEncryptedShare[]>(u2.map((id) => [id, []]));
    for (const sender of u2) {
      for (const s of (this.shareKeys.get(sender) as SecAggShareKeys).encryptedShares)
        inbox.get(s.recipientId)?.push(s);
    }
    this.state = 'masked-input';
    return u2.map((id) => ({
      sessionId: this.config.sessionId,
      recipientId: id,
      encryptedShares: inbox.get(id) ?? [],
    }));
  }

  /** Folds one masked vector into the running sum; the vector itself is not kept. */
  receiveMaskedInput(msg: SecAggMaskedInput): void {
    this.expect('masked-input');
    checkSession(this.config, msg.sessionId, 'MaskedInput');
    this.expectMember(msg.clientId, this.u2, 'shared keys');
    if (this.maskedFrom.has(msg.clientId))
      throw secAggError('SECAGG_DUPLICATE_CLIENT', `client '${msg.clientId}' already sent its masked input`);
    if (!(msg.maskedInput instanceof Uint8Array))
      throw secAggError('SECAGG_MALFORMED_INPUT', 'masked input must be bytes');
    const ring = this.ring as FixedPointRing;
    const y = ring.fromBytes(msg.maskedInput, this.vectorLength);
    this.hold('masked-input', [msg.clientId], y);
    if (!this.runningSum) this.runningSum = ring.zeros(this.vectorLength);
    ring.add(this.runningSum, y);
    this.maskedFrom.add(msg.clientId);
    this.hold('running-sum', [...this.maskedFrom], this.runningSum);
  }

  closeMaskedInput(): SecAggUnmaskRequest {
    this.expect('masked-input');
    const u3 = this.u2.filter((id) => this.maskedFrom.has(id));
    this.guard(() => {
      if (u3.length < this.config.threshold) {
        throw secAggError(
          'SECAGG_TOO_FEW_CLIENTS',
          `only ${u3.length} masked inputs arrived, the threshold is ${this.config.threshold}`,
        );
      }
    });
    this.u3 = u3;
    this.state = 'unmask';
    return { sessionId: this.config.sessionId, survivors: [...u3] };
  }

  receiveUnmaskResponse(msg: SecAggUnmaskResponse): void {
    this.expect('unmask');
    checkSession(this.config, msg.sessionId, 'UnmaskResponse');
    this.expectMember(msg.clientId, this.u3, 'sent a masked input');
    if (this.responses.has(msg.clientId))
      throw secAggError('SECAGG_DUPLICATE_CLIENT', `client '${msg.clientId}' already answered`);
    const survivors = new Set(this.u3);
    const dropped = new Set(this.u2.filter((id) => !survivors.has(id)));
    checkRevealed(msg.clientId, 'self-mask', msg.selfMaskShares, survivors);
    checkRevealed(msg.clientId, 'mask-key', msg.maskKeyShares, dropped);
    this.responses.set(msg.clientId, msg);
  }

  /** Reconstructs the secrets, removes all masks from the running sum and decodes it. */
  async finish(): Promise<SecAggResult> {
    this.expect('unmask');
    const t = this.config.threshold;
    const responders = [...this.responses.values()];
    this.guard(() => {
      if (responders.length < t) {
        throw secAggError(
          'SECAGG_TOO_FEW_CLIENTS',
          `only ${responders.length} clients answered the unmask request, the threshold is ${t}`,
        );
      }
    });
    const ring = this.ring as FixedPointRing;
    const sum = this.runningSum as RingVector;
    const survivors = new Set(this.u3);
    try {
      for (const u of this.u3) {
        const shares = responders.flatMap((r) =>
          r.selfMaskShares.filter((s) => s.ownerId === u).map((s) => s.share),
        );
        const commitment = (this.shareKeys.get(u) as SecAggShareKeys).selfMaskCommitment;
        const seed = await reconstruct(shares, t, u, 'self-mask seed', (b) =>
          bytesEqual(seedCommitment(this.config.sessionId, u, b), commitment),
        );
        const mask = ring.mask(seed, this.vectorLength);
        this.hold('mask', [u], mask);
        ring.sub(sum, mask);
      }
      for (const u of this.u2.filter((id) => !survivors.has(id))) {
        const shares = responders.flatMap((r) =>
          r.maskKeyShares.filter((s) => s.ownerId === u).map((s) => s.share),
        );
        const advertisedKey = (this.advertised.get(u) as SecAggAdvertiseKeys).maskPublicKey;
        const secretKey = await reconstruct(shares, t, u, 'mask key', (sk) =>
          bytesEqual(publicKeyOf(sk), advertisedKey),
        );
        for (const v of this.u3) {
          const peerKey = (this.advertised.get(v) as SecAggAdvertiseKeys).maskPublicKey;
          const mask = ring.mask(
            pairwiseMaskSeed(this.config.sessionId, secretKey, peerKey, u, v),
            this.vectorLength,
          );
          this.hold('mask', [u, v], mask);
          // v added +PRG(s_vu) if v precedes u, else -PRG(s_vu): undo it.
          if (precedes(v, u)) ring.sub(sum, mask);
          else ring.add(sum, mask);
        }
      }
    } catch (err) {
      this.state = 'failed';
      throw err;
    }
    this.hold('sum', [...this.u3], sum);
    const decoded = ring.decode(sum);
    const n = decoded.length - 1;
    this.state = 'done';
    return {
      sum: unflattenUpdate(decoded.subarray(0, n), this.config.layout),
      totalWeight: decoded[n] as number,
      included: [...this.u3],
      excluded: this.u2.filter((id) => !survivors.has(id)),
      unresponsive: this.u3.filter((id) => !this.responses.has(id)),
      quantizationErrorBound: ring.quantizationErrorBound(this.u3.length),
      ringBits: ring.bits,
    };
  }

  private expect(phase: SecAggServerPhase): void {
    if (this.state !== phase)
      throw secAggError('SECAGG_WRONG_PHASE', `the server is in phase '${this.state}', not '${phase}'`);
  }

  private expectMember(id: string, members: string[], what: string): void {
    if (typeof id !== 'string' || !members.includes(id)) {
      throw secAggError('SECAGG_UNKNOWN_CLIENT', `'${String(id)}' is not among the clients that ${what}`);
    }
  }

  /** Runs a phase-closing check; a failure ends the aggregation (there is no way to continue it). */
  private guard(check: () => void): void {
    try {
      check();
    } catch (err) {
      this.state = 'failed';
      throw err;
    }
  }

  private hold(kind: HeldVector['kind'], clientIds: string[], values: RingVector): void {
    this.onVectorHeld?.({ kind, clientIds, values });
  }
}

function checkRevealed(
  responder: string,
  what: string,
  shares: SecAggRevealedShare[],
  expectedOwners: Set<string>,
): void {
  if (!Array.isArray(shares))
    throw secAggError('SECAGG_MALFORMED_SHARES', `'${responder}' sent no ${what} share list`);
  const seen = new Set<string>();
  for (const s of shares) {
    if (!expectedOwners.has(s.ownerId) || seen.has(s.ownerId)) {
      throw secAggError(
        'SECAGG_MALFORMED_SHARES',
        `'${responder}' revealed a ${what} share of '${s.ownerId}', which was not requested or is duplicated`,
      );
    }
    if (
      !(s.share instanceof Uint8Array) ||
      s.share.length !== SHARE_BYTES ||
      s.share[SHARE_BYTES - 1] === 0
    ) {
      throw secAggError(
        'SECAGG_MALFORMED_SHARES',
        `'${responder}' sent a malformed ${what} share of '${s.ownerId}'`,
      );
    }
    seen.add(s.ownerId);
  }
}

/**
 * Lagrange reconstruction from t shares, verified against the owner's public key / commitment. Shares can be
 * corrupted (by a faulty client or in transit), so on a mismatch other t-subsets are tried (sliding windows
 * over the shares, at most 16: enough to step around one or a few bad shares, not a general decoder) before
 * giving up.
 */
async function reconstruct(
  shares: Uint8Array[],
  t: number,
  owner: string,
  what: string,
  verify: (secret: Uint8Array) => boolean,
): Promise<Uint8Array> {
  // `shamir-secret-sharing` accepts only exact Uint8Arrays (it checks the constructor), while shares decoded
  // from frames in Node are Buffer views: copy those into plain Uint8Arrays.
  const plain = shares.map((s) => (s.constructor === Uint8Array ? s : Uint8Array.from(s)));
  // The Shamir x coordinate is the last byte; distinct honest shares never repeat it.
  const byX = new Map<number, Uint8Array>();
  for (const s of plain) if (!byX.has(s[SHARE_BYTES - 1] as number)) byX.set(s[SHARE_BYTES - 1] as number, s);
  const unique = [...byX.values()];
  if (unique.length < t) {
    throw secAggError(
      'SECAGG_TOO_FEW_CLIENTS',
      `only ${unique.length} distinct shares of the ${what} of '${owner}', ${t} needed`,
    );
  }
  const attempts = Math.min(unique.length - t + 1, 16);
  for (let start = 0; start < attempts; start++) {
    const secret = await combine(unique.slice(start, start + t));
    if (verify(secret)) return secret;
  }
  throw secAggError(
    'SECAGG_RECONSTRUCTION_FAILED',
    `the ${what} of '${owner}' reconstructed from ${unique.length} shares does not match its commitment: shares are corrupted`,
  );
}
