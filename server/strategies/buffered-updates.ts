/**
 * Robust statistics (trimmed mean, coordinate median) need every client's value at every coordinate at once,
 * so unlike the running sum they cannot stream: the round's updates are buffered until it closes. Memory is
 * (clients x shared values x 4 bytes) — 1,000 clients of a 1M-value adapter is 4 GB — so the limit is
 * explicit (`maxBufferedBytes`): an update that would exceed it is rejected with `STRATEGY_BUFFER_FULL`
 * (the round still closes with the updates it holds).
 *
 * Validation and bookkeeping (ids, weights, shapes, finite values) go through the same `Aggregator` the
 * streaming strategies use, so a robust strategy accepts and rejects exactly the same updates.
 */
import { z } from 'zod';
import { Aggregator } from '../../shared/aggregation/aggregator.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { AggregateContext, ClientUpdate } from './strategy.ts';
import type { UpdateCombiner } from './update-combiner.ts';

export const maxBufferedBytesField = z
  .int()
  .min(1, 'maxBufferedBytes must be >= 1')
  .default(256 * 1024 * 1024)
  .describe('memory cap for the buffered updates of one round, in bytes (default 256 MiB)');

/** Reduces the n client values of one coordinate (sorted ascending, as float64) to one number. */
export type CoordinateStatistic = (sortedValues: Float64Array) => number;

export class BufferedUpdates implements UpdateCombiner {
  private readonly validator: Aggregator;
  private readonly updates: HostTensorMap[] = [];
  private bytes = 0;

  constructor(
    context: AggregateContext,
    private readonly maxBytes: number,
    private readonly statistic: CoordinateStatistic,
  ) {
    this.validator = new Aggregator({ rules: context.rules, previous: context.global });
  }

  get count(): number {
    return this.validator.count;
  }

  get totalWeight(): number {
    return this.validator.totalWeight;
  }

  get contributors(): string[] {
    return this.validator.contributors;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  check(update: ClientUpdate): void {
    this.validator.check(update);
    const size = bytesOf(update.tensors);
    if (this.bytes + size > this.maxBytes) {
      throw new FedpeftError(
        'STRATEGY_BUFFER_FULL',
        `client "${update.clientId}": buffering its ${size} bytes would exceed maxBufferedBytes ` +
          `(${this.maxBytes}; ${this.count} updates held). Raise the limit or sample fewer clients per round.`,
      );
    }
  }

  add(update: ClientUpdate): void {
    this.check(update);
    this.validator.add(update);
    const copy: HostTensorMap = new Map();
    for (const [name, t] of update.tensors) copy.set(name, { shape: [...t.shape], data: t.data.slice() });
    this.updates.push(copy);
    this.bytes += bytesOf(update.tensors);
  }

  result(): HostTensorMap {
    const first = this.updates[0];
    if (!first) throw new FedpeftError('AGGREGATION_EMPTY', 'no update was added');
    const n = this.updates.length;
    const column = new Float64Array(n);
    const out: HostTensorMap = new Map();
    for (const [name, { shape, data }] of first) {
      const sources = this.updates.map((u) => (u.get(name) as HostTensor).data);
      const result = new Float32Array(data.length);
      for (let i = 0; i < result.length; i++) {
        for (let k = 0; k < n; k++) column[k] = (sources[k] as Float32Array)[i] as number;
        column.sort();
        result[i] = this.statistic(column);
      }
      out.set(name, { shape: [...shape], data: result });
    }
    return out;
  }
}

function bytesOf(tensors: HostTensorMap): number {
  let bytes = 0;
  for (const t of tensors.values()) bytes += t.data.byteLength;
  return bytes;
}
