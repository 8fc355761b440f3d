/**
 * Size limits of the wire, in one place so the coordinator, clients and docs/protocol.md agree. Every limit
 * exists because untrusted input must not be able to make a receiver allocate without bound.
 */

/** Default chunk size: well under socket.io's default 1e6-byte `maxHttpBufferSize`, so chunks are never
 *  silently dropped even by a server that forgot to raise it. */
export const DEFAULT_CHUNK_BYTES = 512 * 1024;

/** Largest chunk a receiver accepts. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** Largest frame (one encoded Envelope): a maximal chunk plus generous room for the envelope and the other
 *  fields. Servers set socket.io's `maxHttpBufferSize` to this. */
export const MAX_FRAME_BYTES = MAX_CHUNK_BYTES + 64 * 1024;

/** Default largest transfer (sum of all tensors' bytes) a receiver accepts; configurable per receiver. */
export const DEFAULT_MAX_TRANSFER_BYTES = 1024 * 1024 * 1024;

/** Hard ceiling on a transfer: one contiguous ArrayBuffer must hold it in every JS engine we target. */
export const MAX_TRANSFER_BYTES_CEILING = 2 ** 31 - 1;

export const MAX_TENSORS_PER_TRANSFER = 65_536;
export const MAX_TENSOR_RANK = 8;
export const MAX_NAME_LENGTH = 256;
export const MAX_TRANSFER_ID_LENGTH = 128;
/** Method/model configs and hyper-parameters travel as JSON strings. */
export const MAX_JSON_LENGTH = 256 * 1024;
/** Free-text fields (error messages, reasons). */
export const MAX_TEXT_LENGTH = 4096;
/** Repeated fields that grow with the fleet (secure aggregation peers and shares). */
export const MAX_PEERS = 100_000;
/** Keys, signatures, ciphertexts and Shamir shares. */
export const MAX_KEY_BYTES = 4096;
/** Tensors sent inline (signatures, probes) rather than as a transfer. */
export const MAX_INLINE_TENSOR_BYTES = 64 * 1024;

/** Chunks per transfer: bounds the receiver's bookkeeping and the selective-ack list (with the default
 *  1 GiB transfer limit this means chunks of at least 16 KiB). */
export const MAX_CHUNKS_PER_TRANSFER = 65_536;

/** Folds one FoldHistory reply may list (a client asks for more in several requests). */
export const MAX_FOLDS_PER_REPLY = 1024;
