/**
 * The messages of the secure aggregation protocol (Bonawitz et al., CCS 2017, semi-honest variant), as plain
 * objects so the state machines are transport-independent. The wire mirrors them 1:1 in protobuf
 * (`SecAggAdvertiseKeys`, `SecAggShareKeys`, `SecAggMaskedInput`, `SecAggUnmaskRequest/Response`, plus the two
 * server broadcasts below). Byte fields are raw bytes (`bytes` in protobuf). Every message carries the
 * session id so a message from another round is rejected rather than mixed in.
 *
 * The `clientId` inside a client message is only a claim: the transport must check it against the
 * authenticated connection before handing the message to `SecAggServer`.
 */

/** Round 0, client -> server: the client's two public keys. */
export interface SecAggAdvertiseKeys {
  sessionId: string;
  clientId: string;
  /** c_u^PK: agreement key for encrypting shares. 32 bytes (X25519). */
  encryptionPublicKey: Uint8Array;
  /** s_u^PK: agreement key for pairwise mask seeds. 32 bytes (X25519). */
  maskPublicKey: Uint8Array;
}

/** Round 0 -> 1, server -> every client in U1: everyone's keys, sorted by client id. */
export interface SecAggKeyRoster {
  sessionId: string;
  participants: SecAggAdvertiseKeys[];
}

export interface SecAggEncryptedShare {
  senderId: string;
  recipientId: string;
  /** ChaCha20-Poly1305(share of s^SK ‖ share of b), see share-envelope.ts. */
  ciphertext: Uint8Array;
}

/** Round 1, client -> server: one encrypted share pair for every other member of U1. */
export interface SecAggShareKeys {
  sessionId: string;
  clientId: string;
  /**
   * SHA-256 commitment to the self-mask seed b_u (an addition to the paper): lets the server detect corrupted
   * shares instead of silently unmasking with a wrong seed. b_u is 256 uniformly random bits, so the hash
   * reveals nothing usable about it.
   */
  selfMaskCommitment: Uint8Array;
  encryptedShares: SecAggEncryptedShare[];
}

/** Round 1 -> 2, server -> each client v in U2: the ciphertexts addressed to v (which also tells v who is in U2). */
export interface SecAggSharesForClient {
  sessionId: string;
  recipientId: string;
  encryptedShares: SecAggEncryptedShare[];
}

/** Round 2, client -> server: y_u = encode(w·x_u ‖ w) + PRG(b_u) + Σ_v ±PRG(s_uv), as ring elements. */
export interface SecAggMaskedInput {
  sessionId: string;
  clientId: string;
  /** Little-endian ring elements: uint32 for Z_2^32, float64-held integers for Z_2^52. */
  maskedInput: Uint8Array;
}

/** Round 2 -> 3, server -> each client in U3: who sent a masked input (U3). */
export interface SecAggUnmaskRequest {
  sessionId: string;
  survivors: string[];
}

export interface SecAggRevealedShare {
  ownerId: string;
  share: Uint8Array;
}

/** Round 3, client -> server: b-shares of survivors, s^SK-shares of clients that dropped before round 2. */
export interface SecAggUnmaskResponse {
  sessionId: string;
  clientId: string;
  selfMaskShares: SecAggRevealedShare[];
  maskKeyShares: SecAggRevealedShare[];
}
