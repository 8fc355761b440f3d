/**
 * Checks on the set of participants that both sides apply: the server when it closes key advertisement, every
 * client when it receives the roster (a client must not trust the server to have checked).
 */
import type { SecAggConfig } from './config.ts';
import type { SecAggAdvertiseKeys } from './messages.ts';
import { MAX_SECAGG_CLIENTS } from './config.ts';
import { PUBLIC_KEY_BYTES, bytesEqual } from './key-agreement.ts';
import { secAggError } from './errors.ts';
import { bytesToHex } from '@noble/hashes/utils.js';

export function checkClientId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) {
    throw secAggError(
      'SECAGG_UNKNOWN_CLIENT',
      `client id must be a non-empty string of at most 200 characters`,
    );
  }
}

export function checkSession(config: SecAggConfig, sessionId: unknown, what: string): void {
  if (sessionId !== config.sessionId) {
    throw secAggError(
      'SECAGG_WRONG_SESSION',
      `${what} is for session '${String(sessionId)}', this is '${config.sessionId}'`,
    );
  }
}

/** Threshold rules for a given number of participants (see config.ts for why t > n/2). */
export function checkThreshold(config: SecAggConfig, participants: number): void {
  const t = config.threshold;
  if (participants < t) {
    throw secAggError(
      'SECAGG_TOO_FEW_CLIENTS',
      `only ${participants} clients advertised keys, the threshold is ${t}`,
    );
  }
  if (participants > MAX_SECAGG_CLIENTS) {
    throw secAggError(
      'SECAGG_INVALID_CONFIG',
      `${participants} clients, at most ${MAX_SECAGG_CLIENTS} per aggregation (split into groups)`,
    );
  }
  if (2 * t <= participants) {
    throw secAggError(
      'SECAGG_INVALID_CONFIG',
      `threshold ${t} is not more than half of ${participants} clients; use at least ${Math.floor(participants / 2) + 1}`,
    );
  }
}

/** Structure of one advertisement: id, 32-byte keys, two different keys. */
export function checkAdvertisement(msg: SecAggAdvertiseKeys): void {
  checkClientId(msg.clientId);
  for (const [what, key] of [
    ['encryption', msg.encryptionPublicKey],
    ['mask', msg.maskPublicKey],
  ] as const) {
    if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_BYTES) {
      throw secAggError(
        'SECAGG_MALFORMED_KEY',
        `${what} public key of '${msg.clientId}' must be ${PUBLIC_KEY_BYTES} bytes`,
      );
    }
  }
  if (bytesEqual(msg.encryptionPublicKey, msg.maskPublicKey)) {
    throw secAggError('SECAGG_MALFORMED_KEY', `'${msg.clientId}' advertised the same key twice`);
  }
}

/** The whole roster: every entry well-formed, no duplicate ids, no public key used twice, threshold rules. */
export function checkRoster(config: SecAggConfig, participants: SecAggAdvertiseKeys[]): void {
  checkThreshold(config, participants.length);
  const ids = new Set<string>();
  const keys = new Set<string>();
  for (const p of participants) {
    checkAdvertisement(p);
    if (ids.has(p.clientId))
      throw secAggError('SECAGG_DUPLICATE_CLIENT', `client '${p.clientId}' appears twice`);
    ids.add(p.clientId);
    for (const key of [p.encryptionPublicKey, p.maskPublicKey]) {
      const hex = bytesToHex(key);
      if (keys.has(hex))
        throw secAggError(
          'SECAGG_DUPLICATE_CLIENT',
          `a public key of '${p.clientId}' is used by another client`,
        );
      keys.add(hex);
    }
  }
}
