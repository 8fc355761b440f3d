import { describe, expect, it } from 'vitest';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import type { TransferReceiver } from '../../shared/wire/chunking.ts';
import type { MessageBody } from '../../shared/wire/messages.ts';
import { DType } from '../../shared/wire/tensor-codec.ts';
import { buildContribution } from './update-intake.ts';

/** An upload of one tensor, as the transfer layer hands it over once every chunk arrived. */
function upload(name: string, shape: number[]): TransferReceiver {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5);
  return {
    manifest: { tensors: [{ name, dtype: DType.FLOAT32, shape }] },
    hostTensors: () => new Map([[name, { shape, data }]]),
  } as unknown as TransferReceiver;
}

function commit(name: string, extent: number[]): MessageBody<'updateCommit'> {
  return {
    roundId: 1,
    transferId: 't1',
    numExamples: 4,
    weight: 4,
    trainedExtents: [{ tensor: name, extent }],
  } as unknown as MessageBody<'updateCommit'>;
}

function expected(name: string, shape: number[], rule: AggregationRule) {
  return { shapes: new Map([[name, shape]]), rules: new Map([[name, rule]]) };
}

describe('buildContribution: trained extents', () => {
  it("takes a FLoRA client's stacked factor whole (the wire extent is its full rank, not a prefix)", () => {
    const rule: AggregationRule = { kind: 'stack', axis: 0, scaleByWeight: false };
    const c = buildContribution(
      's1',
      upload('l0.B', [2, 6]),
      commit('l0.B', [2, 6]),
      expected('l0.B', [4, 6], rule),
    );
    expect(c.trainedExtents).toBeUndefined();
    expect(c.weight).toBe(4);
  });

  it('keeps a nested-rank prefix shorter than the tensor, and drops a full one', () => {
    const rule: AggregationRule = { kind: 'nested-prefix-mean', axis: 0 };
    const want = expected('l0.B', [4, 6], rule);
    const prefix = buildContribution('s1', upload('l0.B', [4, 6]), commit('l0.B', [2, 6]), want);
    expect(prefix.trainedExtents?.get('l0.B')).toBe(2);
    const full = buildContribution('s1', upload('l0.B', [4, 6]), commit('l0.B', [4, 6]), want);
    expect(full.trainedExtents).toBeUndefined();
  });

  it('refuses an extent that does not fit the shape', () => {
    const rule: AggregationRule = { kind: 'nested-prefix-mean', axis: 0 };
    expect(() =>
      buildContribution('s1', upload('l0.B', [4, 6]), commit('l0.B', [5, 6]), expected('l0.B', [4, 6], rule)),
    ).toThrow(/does not fit/);
  });
});
