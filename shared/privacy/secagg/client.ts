/**
 * The client side of secure aggregation (Bonawitz et al., CCS 2017, semi-honest variant), as a state machine:
 *
 *   advertiseKeys()            -> SecAggAdvertiseKeys        (round 0)
 *   shareKeys(roster)          -> SecAggShareKeys            (round 1)
 *   maskedInput(shares, x, w)  -> SecAggMaskedInput          (round 2)
 *   unmask(request)            -> SecAggUnmaskResponse       (round 3)
 *
 * Each method may be called once, in order; anything else is SECAGG_WRONG_PHASE. In particular a client
 * answers ONE unmask request: answering two with different survivor sets could reveal both the self-mask seed
 * and the mask key of the same client, i.e. its input.
 *
 * Weighted sums: the client encodes w·x followed by w itself, both through the mask, so the server learns only
 * Σ w·x and Σ w (never a client's weight). Use weights in [0, clipRange] (e.g. examples / max examples); with
 * client-level DP use w = 1 so one client's influence stays bounded by the clip norm.
 */
import { split } from 'shamir-secret-sharing';
import type { HostTensorMap } from '../../tensor/host-tensor.ts';
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
import type { KeyPair, RandomBytes } from './key-agreement.ts';
import type { SharePair } from './share-envelope.ts';
import { parseSecAggConfig } from './config.ts';
import {
  SEED_BYTES,
  agree,
  bytesEqual,
  cryptoRandomBytes,
  generateKeyPair,
  pairwiseMaskSeed,
  precedes,
  seedCommitment,
  shareKey,
} from './key-agreement.ts';
import { ENVELOPE_BYTES, openShares, sealShares } from './share-envelope.ts';
import { chooseRing } from './fixed-point-ring.ts';
import { checkClientId, checkRoster, checkSession } from './roster.ts';
import { secAggError } from './errors.ts';
import { flattenUpdate, layoutSize } from '../update-vector.ts';

export interface SecAggClientOptions {
  /**
   * Source of key material and the self-mask seed. Default: `crypto.getRandomValues`. Inject a seeded source
   * only in tests and simulations: predictable keys protect nothing. (Shamir share polynomials always use the
   * platform CSPRNG inside `shamir-secret-sharing`.)
   */
  randomBytes?: RandomBytes;
}

type ClientPhase = 'advertise' | 'share' | 'masked-input' | 'unmask' | 'done';

export class SecAggClient {
  readonly clientId: string;
  readonly config: SecAggConfig;
  private readonly randomBytes: RandomBytes;
  private phase: ClientPhase = 'advertise';
  private readonly encryptionKeys: KeyPair;
  private readonly maskKeys: KeyPair;
  private roster = new Map<string, SecAggAdvertiseKeys>();
  /** U2 as seen by this client: senders of shares addressed to it, plus itself. */
  private u2: string[] = [];
  private selfMaskSeed: Uint8Array | undefined;
  private ownShares: SharePair | undefined;
  private received = new Map<string, SecAggEncryptedShare>();
  /** Keys for opening each peer's shares, derived in round 1 with the same agreement (saves n X25519 in round 3). */
  private readonly openingKeys = new Map<string, Uint8Array>();
  private clippedValues = 0;

  constructor(clientId: string, config: SecAggConfigInput, options: SecAggClientOptions = {}) {
    checkClientId(clientId);
    this.clientId = clientId;
    this.config = parseSecAggConfig(config);
    this.randomBytes = options.randomBytes ?? cryptoRandomBytes;
    this.encryptionKeys = generateKeyPair(this.randomBytes);
    this.maskKeys = generateKeyPair(this.randomBytes);
  }

  /** How many of this client's (weighted) values fell outside [-R, R] and were clipped when encoding. */
  get clippedValueCount(): number {
    return this.clippedValues;
  }

  advertiseKeys(): SecAggAdvertiseKeys {
    this.enter('advertise', 'share');
    return {
      sessionId: this.config.sessionId,
      clientId: this.clientId,
      encryptionPublicKey: this.encryptionKeys.publicKey,
      maskPublicKey: this.maskKeys.publicKey,
    };
  }

  /** Round 1: split s^SK and a fresh self-mask seed b into t-of-n shares, encrypt one pair per peer. */
  async shareKeys(roster: SecAggKeyRoster): Promise<SecAggShareKeys> {
    this.enter('share', 'masked-input');
    checkSession(this.config, roster.sessionId, 'the key roster');
    checkRoster(this.config, roster.participants);
    const me = roster.participants.find((p) => p.clientId === this.clientId);
    if (
      !me ||
      !bytesEqual(me.encryptionPublicKey, this.encryptionKeys.publicKey) ||
      !bytesEqual(me.maskPublicKey, this.maskKeys.publicKey)
    ) {
      throw secAggError(
        'SECAGG_UNKNOWN_CLIENT',
        `the roster does not list '${this.clientId}' with the keys it advertised`,
      );
    }
    for (const p of roster.participants) this.roster.set(p.clientId, p);

    const n = roster.participants.length;
    const t = this.config.threshold;
    this.selfMaskSeed = this.randomBytes(SEED_BYTES);
    const [maskKeyShares, selfMaskShares] = await Promise.all([
      split(this.maskKeys.secretKey, n, t),
      split(this.selfMaskSeed, n, t),
    ]);

    const encryptedShares: SecAggEncryptedShare[] = [];
    roster.participants.forEach((peer, i) => {
      const pair: SharePair = {
        maskKeyShare: maskKeyShares[i] as Uint8Array,
        selfMaskShare: selfMaskShares[i] as Uint8Array,
      };
      if (peer.clientId === this.clientId) {
        this.ownShares = pair;
        return;
      }
      const secret = agree(this.encryptionKeys.secretKey, peer.encryptionPublicKey, peer.clientId);
      const key = shareKey(this.config.sessionId, secret, this.clientId, peer.clientId);
      this.openingKeys.set(
        peer.clientId,
        shareKey(this.config.sessionId, secret, peer.clientId, this.clientId),
      );
      encryptedShares.push({
        senderId: this.clientId,
        recipientId: peer.clientId,
        ciphertext: sealShares(key, this.config.sessionId, this.clientId, peer.clientId, pair),
      });
    });
    return {
      sessionId: this.config.sessionId,
      clientId: this.clientId,
      selfMaskCommitment: seedCommitment(this.config.sessionId, this.clientId, this.selfMaskSeed),
      encryptedShares,
    };
  }

  /**
   * Round 2: y = encode(w·x ‖ w) + PRG(b) + Σ_{v in U2, v≠u} ±PRG(s_uv), + when u precedes v. The update must
   * match the configured layout exactly.
   */
  maskedInput(shares: SecAggSharesForClient, update: HostTensorMap, weight: number): SecAggMaskedInput {
    this.enter('masked-input', 'unmask');
    checkSession(this.config, shares.sessionId, 'the forwarded shares');
    if (shares.recipientId !== this.clientId) {
      throw secAggError(
        'SECAGG_UNKNOWN_CLIENT',
        `shares addressed to '${shares.recipientId}' were delivered to '${this.clientId}'`,
      );
    }
    for (const s of shares.encryptedShares) {
      if (s.recipientId !== this.clientId || !this.roster.has(s.senderId) || s.senderId === this.clientId) {
        throw secAggError(
          'SECAGG_MALFORMED_SHARES',
          `a forwarded share from '${s.senderId}' to '${s.recipientId}' does not belong here`,
        );
      }
      if (this.received.has(s.senderId))
        throw secAggError('SECAGG_MALFORMED_SHARES', `two shares from '${s.senderId}'`);
      if (!(s.ciphertext instanceof Uint8Array) || s.ciphertext.length !== ENVELOPE_BYTES) {
        throw secAggError('SECAGG_MALFORMED_SHARES', `share from '${s.senderId}' has the wrong length`);
      }
      this.received.set(s.senderId, s);
    }
    this.u2 = [this.clientId, ...this.received.keys()];
    if (this.u2.length < this.config.threshold) {
      throw secAggError(
        'SECAGG_TOO_FEW_CLIENTS',
        `only ${this.u2.length} clients shared keys, the threshold is ${this.config.threshold}`,
      );
    }
    if (!(Number.isFinite(weight) && weight >= 0 && weight <= this.config.clipRange)) {
      throw secAggError(
        'SECAGG_INVALID_INPUT',
        `weight must be in [0, clipRange = ${this.config.clipRange}], got ${weight}`,
      );
    }

    const ring = chooseRing({ ...this.config, clients: this.roster.size });
    const values = new Float64Array(layoutSize(this.config.layout) + 1);
    const flat = flattenUpdate(update, this.config.layout);
    for (let i = 0; i < flat.length; i++) values[i] = (flat[i] as number) * weight;
    values[flat.length] = weight;
    const { vector, clippedValues } = ring.encode(values);
    this.clippedValues = clippedValues;

    ring.addMask(vector, this.selfMaskSeed as Uint8Array, 1);
    for (const peerId of this.u2) {
      if (peerId === this.clientId) continue;
      const peer = this.roster.get(peerId) as SecAggAdvertiseKeys;
      const seed = pairwiseMaskSeed(
        this.config.sessionId,
        this.maskKeys.secretKey,
        peer.maskPublicKey,
        this.clientId,
        peerId,
      );
      ring.addMask(vector, seed, precedes(this.clientId, peerId) ? 1 : -1);
    }
    return { sessionId: this.config.sessionId, clientId: this.clientId, maskedInput: ring.toBytes(vector) };
  }

  /**
   * Round 3: for every u in U2, reveal b_u's share if u is a survivor (its masked input arrived) or s_u^SK's
   * share if it dropped — never both for the same client.
   */
  unmask(request: SecAggUnmaskRequest): SecAggUnmaskResponse {
    this.enter('unmask', 'done');
    checkSession(this.config, request.sessionId, 'the unmask request');
    const survivors = new Set(request.survivors);
    if (survivors.size !== request.survivors.length)
      throw secAggError('SECAGG_DUPLICATE_CLIENT', 'the survivor list repeats a client');
    const u2 = new Set(this.u2);
    for (const s of survivors) {
      if (!u2.has(s))
        throw secAggError(
          'SECAGG_UNKNOWN_CLIENT',
          `survivor '${s}' never shared keys with '${this.clientId}'`,
        );
    }
    if (!survivors.has(this.clientId)) {
      throw secAggError(
        'SECAGG_UNKNOWN_CLIENT',
        `'${this.clientId}' is not listed as a survivor, so it must not take part in unmasking`,
      );
    }
    if (survivors.size < this.config.threshold) {
      throw secAggError(
        'SECAGG_TOO_FEW_CLIENTS',
        `only ${survivors.size} survivors, the threshold is ${this.config.threshold}`,
      );
    }

    const own = this.ownShares as SharePair;
    const selfMaskShares: SecAggRevealedShare[] = [{ ownerId: this.clientId, share: own.selfMaskShare }];
    const maskKeyShares: SecAggRevealedShare[] = [];
    for (const [senderId, envelope] of this.received) {
      const key = this.openingKeys.get(senderId) as Uint8Array;
      const pair = openShares(key, this.config.sessionId, senderId, this.clientId, envelope.ciphertext);
      if (survivors.has(senderId)) selfMaskShares.push({ ownerId: senderId, share: pair.selfMaskShare });
      else maskKeyShares.push({ ownerId: senderId, share: pair.maskKeyShare });
    }
    return { sessionId: this.config.sessionId, clientId: this.clientId, selfMaskShares, maskKeyShares };
  }

  private enter(expected: ClientPhase, next: ClientPhase): void {
    if (this.phase !== expected) {
      throw secAggError(
        'SECAGG_WRONG_PHASE',
        `client '${this.clientId}' is in phase '${this.phase}', not '${expected}'`,
      );
    }
    this.phase = next;
  }
}
