import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { tf } from '../tensor/tf.ts';
import {
  buildTokenStream,
  disposeBatch,
  evalBatches,
  evalWindows,
  lmBatches,
  sampleLmBatch,
  utf8ByteEncoder,
} from './lm-batches.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

const stream = buildTokenStream(['Call me Ishmael. Some years ago', 'never mind how long precisely'], {});

describe('buildTokenStream', () => {
  it('concatenates UTF-8 bytes with the separator between documents', () => {
    const s = buildTokenStream(['hé', 'x'], { separator: '|' });
    expect(Array.from(s)).toEqual([104, 0xc3, 0xa9, 124, 120]);
    expect(
      Array.from(
        buildTokenStream(['ab'], { encoder: { encode: (t) => [...t].map((c) => c.charCodeAt(0) - 96) } }),
      ),
    ).toEqual([1, 2]);
    expect(utf8ByteEncoder.vocabSize).toBe(256);
  });
});

describe('training batches', () => {
  it('are int32 [B, T] with targets = inputs shifted by one, windows taken from the stream', async () => {
    const before = tf.memory().numTensors;
    const batch = sampleLmBatch(stream, { batchSize: 4, contextLength: 8 }, new Rng(1));
    expect(batch.inputs.shape).toEqual([4, 8]);
    expect(batch.targets.shape).toEqual([4, 8]);
    expect(batch.inputs.dtype).toBe('int32');
    expect(batch.targets.dtype).toBe('int32');
    const x = (await batch.inputs.array()) as number[][];
    const y = (await batch.targets.array()) as number[][];
    const text = Array.from(stream).join(',');
    for (let b = 0; b < 4; b++) {
      expect(y[b]?.slice(0, 7)).toEqual(x[b]?.slice(1));
      expect(text).toContain([...(x[b] ?? []), y[b]?.[7]].join(','));
    }
    disposeBatch(batch);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('are seeded, reach every valid offset including the last window, and do not leak', () => {
    const before = tf.memory().numTensors;
    const first = (seed: number) => {
      const b = sampleLmBatch(stream, { batchSize: 3, contextLength: 5 }, new Rng(seed));
      const v = b.inputs.dataSync().join(',');
      disposeBatch(b);
      return v;
    };
    expect(first(7)).toBe(first(7));
    expect(first(7)).not.toBe(first(8));
    const small = Int32Array.from([0, 1, 2, 3, 4, 5]); // T = 4: valid starts 0 and 1
    const seen = new Set<number>();
    for (const b of lmBatches(small, { batchSize: 2, contextLength: 4, steps: 20 }, new Rng(3))) {
      b.inputs
        .dataSync()
        .filter((_, i) => i % 4 === 0)
        .forEach((v) => seen.add(v));
      disposeBatch(b);
    }
    expect([...seen].sort()).toEqual([0, 1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reject streams shorter than one window with a clear error', () => {
    expect(() =>
      sampleLmBatch(Int32Array.from([1, 2, 3]), { batchSize: 1, contextLength: 3 }, new Rng(0)),
    ).toThrow(/3 tokens, fewer than one window of contextLength \+ 1 = 4/);
  });
});

describe('evaluation windows', () => {
  it('score every token after the first exactly once, deterministically (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 400 }), fc.integer({ min: 1, max: 40 }), (len, T) => {
        fc.pre(len >= T + 1);
        const s = Int32Array.from({ length: len }, (_, i) => i);
        const w = evalWindows(s, T);
        expect(evalWindows(s, T)).toEqual(w);
        const predicted = w.starts.flatMap((st) => Array.from({ length: T }, (_, k) => st + 1 + k));
        expect(new Set(predicted).size).toBe(predicted.length); // non-overlapping targets
        expect(predicted).toEqual(Array.from({ length: predicted.length }, (_, i) => i + 1)); // contiguous from 1
        expect(len - 1 - predicted.length).toBeLessThan(T); // only a tail shorter than a window is left out
        expect(w.predictedTokens).toBe(predicted.length);
      }),
    );
  });

  it('maxWindows picks an evenly spaced deterministic subset; batches cover all windows and do not leak', () => {
    const s = Int32Array.from({ length: 1001 }, (_, i) => i % 256);
    const all = evalWindows(s, 10);
    expect(all.starts).toHaveLength(100);
    const some = evalWindows(s, 10, 7);
    expect(some.starts).toHaveLength(7);
    expect(some.starts[0]).toBe(0);
    expect(some.starts.every((st) => all.starts.includes(st))).toBe(true);
    expect(some.starts.at(-1)).toBeGreaterThan(800);
    const before = tf.memory().numTensors;
    const rows: number[] = [];
    for (const b of evalBatches(s, all, 32)) {
      rows.push(b.inputs.shape[0] ?? 0);
      disposeBatch(b);
    }
    expect(rows).toEqual([32, 32, 32, 4]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
