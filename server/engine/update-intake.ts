/**
 * Turns a completed upload plus its `UpdateCommit` into a validated `Contribution`, or a `FedpeftError` with
 * a protocol code: float dtype (INVALID_TENSOR), exactly the method's declared shared tensors with their
 * shapes (SHAPE_MISMATCH — a tensor outside the shared set is refused here, so private state cannot reach the
 * aggregate; rank-axis rules accept a client's smaller rank), finite values (NON_FINITE), a positive weight,
 * sane trained extents, and the per-tensor norms HetLoRA's rule weights by (`aggregation_norms`). Aggregation errors raised
 * later by the strategy are mapped to protocol codes by `toProtocolError`.
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import type { Contribution } from '../../shared/aggregation/contribution.ts';
import { FedpeftError, isFedpeftError } from '../../shared/errors.ts';
import { isStorageError } from '../durability/durable-fs.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { TransferReceiver } from '../../shared/wire/chunking.ts';
import { isWireErrorCode, type MessageBody } from '../../shared/wire/messages.ts';
import { boundedWeight } from '../limits/update-weight.ts';
import type { ActiveRound, ClosedRound } from './round-state.ts';
import { DType, assertFinite, dtypeName } from '../../shared/wire/tensor-codec.ts';

export interface ExpectedUpdate {
  shapes: ReadonlyMap<string, readonly number[]>;
  rules: ReadonlyMap<string, AggregationRule>;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Checks the manifest of an upload before its bytes are decoded (cheap, and the first line of defence). */
export function checkUpdateManifest(
  receiver: Pick<TransferReceiver, 'manifest'>,
  expected: ExpectedUpdate,
): void {
  const specs = receiver.manifest.tensors;
  for (const spec of specs) {
    if (spec.dtype !== DType.FLOAT32 && spec.dtype !== DType.FLOAT16) {
      throw new FedpeftError(
        'INVALID_TENSOR',
        `update tensor "${spec.name}" is ${dtypeName(spec.dtype)}; shared tensors travel as FLOAT32 or FLOAT16`,
      );
    }
  }
  const names = new Set(specs.map((s) => s.name));
  const missing = [...expected.shapes.keys()].filter((n) => !names.has(n));
  const extra = [...names].filter((n) => !expected.shapes.has(n));
  if (missing.length > 0 || extra.length > 0) {
    const parts: string[] = [];
    if (extra.length) parts.push(`not shared by this method: ${extra.map((n) => `"${n}"`).join(', ')}`);
    if (missing.length) parts.push(`missing: ${missing.map((n) => `"${n}"`).join(', ')}`);
    throw new FedpeftError(
      'SHAPE_MISMATCH',
      `the update must hold exactly the method's shared tensors (${parts.join('; ')})`,
    );
  }
  for (const spec of specs) {
    const want = expected.shapes.get(spec.name)!;
    // Rules with a rank axis take a client's rank-r_k tensor (HetLoRA/FLoRA factors are allocated at r_k);
    // every other dimension, and every other rule, must match exactly.
    const rule = expected.rules.get(spec.name);
    const rankAxis = rule && 'axis' in rule ? rule.axis : -1;
    const fits = (d: number, i: number) => (i === rankAxis ? d >= 1 && d <= want[i]! : d === want[i]);
    if (spec.shape.length !== want.length || !spec.shape.every(fits)) {
      throw new FedpeftError(
        'SHAPE_MISMATCH',
        `update tensor "${spec.name}" has shape ${shapeText(spec.shape)}; this run's is ${shapeText(want)}`,
      );
    }
  }
}

export function buildContribution(
  clientId: string,
  receiver: TransferReceiver,
  commit: MessageBody<'updateCommit'>,
  expected: ExpectedUpdate,
  maxExampleWeight = Number.MAX_VALUE,
): Contribution {
  checkUpdateManifest(receiver, expected);
  const weight = boundedWeight(commit, maxExampleWeight);
  const tensors: HostTensorMap = receiver.hostTensors();
  for (const [name, t] of tensors) assertFinite(name, t.data);
  const trainedExtents = new Map<string, number>();
  for (const { tensor, extent } of commit.trainedExtents) {
    const shape = expected.shapes.get(tensor);
    const rule = expected.rules.get(tensor);
    if (!shape || !rule) {
      throw new FedpeftError(
        'SHAPE_MISMATCH',
        `trained_extents names "${tensor}", which is not a shared tensor`,
      );
    }
    if (extent.length !== shape.length || extent.some((e, i) => e > shape[i]!)) {
      throw new FedpeftError(
        'SHAPE_MISMATCH',
        `trained extent ${shapeText(extent)} of "${tensor}" does not fit its shape ${shapeText(shape)}`,
      );
    }
    // A stacked tensor is always whole: its stacking axis is the client's own rank, not a trained prefix.
    if (!('axis' in rule) || rule.kind === 'stack') continue;
    const trained = extent[rule.axis]!;
    // A nested-prefix extent that covers the whole tensor is a full-rank update: recording it would make
    // full-rank clients look like prefix clients to wrappers that refuse prefixes (DP's fixed-denominator mean).
    if (rule.kind === 'nested-prefix-mean' && trained === shape[rule.axis]) continue;
    trainedExtents.set(tensor, trained);
  }
  const norms = new Map<string, number>();
  for (const { tensor, norm } of commit.aggregationNorms ?? []) {
    if (!expected.shapes.has(tensor)) {
      throw new FedpeftError(
        'SHAPE_MISMATCH',
        `aggregation_norms names "${tensor}", which is not a shared tensor`,
      );
    }
    norms.set(tensor, norm);
  }
  return {
    clientId,
    weight,
    tensors,
    ...(trainedExtents.size > 0 ? { trainedExtents } : {}),
    ...(norms.size > 0 ? { norms } : {}),
  };
}

/** A protocol error for anything the aggregation path throws (its own codes are not wire codes). */
export function toProtocolError(err: unknown): FedpeftError {
  // The real cause (path, ENOSPC/EROFS) is logged once by StorageHealth; the client only needs to retry.
  if (isStorageError(err)) {
    return new FedpeftError(
      'STORAGE_UNAVAILABLE',
      'the coordinator cannot store updates right now (its disk is full or read-only); retry later',
    );
  }
  if (isFedpeftError(err) && isWireErrorCode(err.code)) return err;
  if (isFedpeftError(err) && err.code.startsWith('SECAGG_')) {
    const code =
      err.code === 'SECAGG_TOO_FEW_CLIENTS' || err.code === 'SECAGG_RECONSTRUCTION_FAILED'
        ? 'SECAGG_ABORTED'
        : [
              'SECAGG_WRONG_PHASE',
              'SECAGG_WRONG_SESSION',
              'SECAGG_UNKNOWN_CLIENT',
              'SECAGG_DUPLICATE_CLIENT',
            ].includes(err.code)
          ? 'UNEXPECTED_MESSAGE'
          : 'MALFORMED_MESSAGE';
    return new FedpeftError(code, err.message);
  }
  if (isFedpeftError(err)) {
    const code = err.code.endsWith('DUPLICATE_CLIENT')
      ? 'DUPLICATE_CLIENT'
      : err.code.includes('NON_FINITE')
        ? 'NON_FINITE'
        : err.code.includes('NORM')
          ? 'NORM_BOUND_EXCEEDED'
          : err.code.includes('WEIGHT')
            ? 'MALFORMED_MESSAGE'
            : err.code.startsWith('AGGREGATION_')
              ? 'SHAPE_MISMATCH'
              : 'INTERNAL';
    return new FedpeftError(code, err.message);
  }
  return new FedpeftError('INTERNAL', 'internal error while aggregating the update');
}

/**
 * Throws the protocol error for an update of round `roundId` from session `sessionId` that the open round
 * `r` cannot take: FUTURE_ROUND, STALE_ROUND, DEADLINE_EXCEEDED (a straggler of the round that closed last,
 * or past the deadline / dropped), NOT_SELECTED.
 */
export function checkUpdateRound(
  sessionId: string,
  roundId: number,
  r: ActiveRound | undefined,
  last: ClosedRound | undefined,
  completed: number,
): void {
  const current = r?.id ?? completed + 1;
  if (roundId > current || (!r && roundId === current)) {
    throw new FedpeftError(
      'FUTURE_ROUND',
      `round ${roundId} has not started (current: ${r ? r.id : 'none'})`,
    );
  }
  if (!r || roundId < r.id) {
    if (last && last.id === roundId && last.committed.has(sessionId)) {
      throw new FedpeftError(
        'ALREADY_COUNTED',
        `round ${roundId} is closed and this client's update was counted in it; train the next round`,
      );
    }
    if (last && last.id === roundId && last.sampled.has(sessionId) && !last.committed.has(sessionId)) {
      throw new FedpeftError(
        'DEADLINE_EXCEEDED',
        `round ${roundId} closed before this update arrived; the straggler was dropped from it — train the next round`,
      );
    }
    throw new FedpeftError(
      'STALE_ROUND',
      `round ${roundId} is over; the current round is ${r ? r.id : 'none'}`,
    );
  }
  if (!r.sampled.has(sessionId)) {
    throw new FedpeftError('NOT_SELECTED', `this client was not sampled for round ${r.id}`);
  }
  if (r.dropped.has(sessionId) || (Date.now() > r.deadlineAt && !r.committed.has(sessionId))) {
    throw new FedpeftError(
      'DEADLINE_EXCEEDED',
      `round ${r.id}'s deadline passed (or the client was dropped after disconnecting); train the next round`,
    );
  }
}
