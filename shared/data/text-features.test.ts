import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../tensor/backend.ts';
import { Rng } from '../tensor/rng.ts';
import { tf } from '../tensor/tf.ts';
import { disposeBatch } from './lm-batches.ts';
import { partitionCorpus } from './partition.ts';
import { loadSpamCorpus, SPAM_LABELS } from './spam-corpus.ts';
import {
  classificationBatch,
  classificationBatches,
  featurizeTexts,
  hashedTextFeatures,
  labelIds,
  type FeatureMatrix,
} from './text-features.ts';

beforeAll(async () => {
  await useBackend('cpu');
});

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

describe('hashedTextFeatures', () => {
  it('is L2-normalized, deterministic, case-insensitive in word mode, and zero for empty text', () => {
    for (const mode of ['words', 'bytes'] as const) {
      const v = hashedTextFeatures('Free money!!! Click here', { mode, dims: 256, maxN: 3 });
      expect(v).toHaveLength(256);
      expect(norm(v)).toBeCloseTo(1, 5);
      expect(hashedTextFeatures('Free money!!! Click here', { mode, dims: 256, maxN: 3 })).toEqual(v);
    }
    expect(hashedTextFeatures('FREE Money', { dims: 64 })).toEqual(
      hashedTextFeatures('free money', { dims: 64 }),
    );
    expect(norm(hashedTextFeatures('', { dims: 64 }))).toBe(0);
  });

  it('similar texts are closer than unrelated ones; bigrams distinguish word order', () => {
    const a = hashedTextFeatures('the meeting is moved to friday afternoon');
    const b = hashedTextFeatures('the meeting is moved to friday morning');
    const c = hashedTextFeatures('cheap viagra online pharmacy no prescription');
    expect(dot(a, b)).toBeGreaterThan(0.6);
    expect(Math.abs(dot(a, c))).toBeLessThan(0.2);
    const unigramsOnly = { maxN: 1 };
    expect(
      dot(
        hashedTextFeatures('dog bites man', unigramsOnly),
        hashedTextFeatures('man bites dog', unigramsOnly),
      ),
    ).toBeCloseTo(1, 5);
    expect(dot(hashedTextFeatures('dog bites man'), hashedTextFeatures('man bites dog'))).toBeLessThan(0.9);
  });

  it('rejects bad options with actionable messages', () => {
    expect(() => hashedTextFeatures('x', { dims: 1 })).toThrow(/dims must be >= 2/);
    expect(() => hashedTextFeatures('x', { mode: 'chars' as 'words' })).toThrow(
      /mode must be 'words' or 'bytes'/,
    );
  });
});

describe('spam classification batches', () => {
  const corpus = loadSpamCorpus();
  // One small client of a real partition keeps this fast while exercising the real cleaned text.
  const client = partitionCorpus(corpus, { kind: 'iid', clients: 8, seed: 1 }).clients[0];
  const train = client?.train ?? [];
  const test = client?.test ?? [];
  const trainX = featurizeTexts(
    train.map((d) => d.text),
    { dims: 2048 },
  );
  const trainY = labelIds(train, 'label', SPAM_LABELS);

  it('float32 [B, F] inputs and int32 [B] labels; epochs cover every example once; no leaks', async () => {
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    for (const b of classificationBatches(trainX, trainY, { batchSize: 64, epochs: 1 }, new Rng(2))) {
      expect(b.inputs.dtype).toBe('float32');
      expect(b.targets.dtype).toBe('int32');
      expect(b.inputs.shape[1]).toBe(2048);
      expect(b.targets.shape).toEqual([b.inputs.shape[0]]);
      seen.push(...((await b.targets.array()) as number[]));
      disposeBatch(b);
    }
    expect(seen).toHaveLength(train.length);
    expect(seen.filter((y) => y === 1).length).toBe(trainY.filter((y) => y === 1).length);
    expect(tf.memory().numTensors).toBe(before);
    const one = classificationBatch(trainX, trainY, [3]);
    expect(Array.from(one.inputs.dataSync())).toEqual(Array.from(trainX.data.subarray(3 * 2048, 4 * 2048)));
    disposeBatch(one);
  });

  it('features carry the spam signal: a nearest-centroid rule beats the majority class by a wide margin', () => {
    const centroid = (x: FeatureMatrix, ys: Int32Array, label: number) => {
      const c = new Float32Array(x.dims);
      ys.forEach((y, r) => {
        if (y === label)
          for (let j = 0; j < x.dims; j++) c[j] = (c[j] as number) + (x.data[r * x.dims + j] as number);
      });
      return c;
    };
    const ham = centroid(trainX, trainY, 0);
    const spam = centroid(trainX, trainY, 1);
    const testX = featurizeTexts(
      test.map((d) => d.text),
      { dims: 2048 },
    );
    const testY = labelIds(test, 'label', SPAM_LABELS);
    let correct = 0;
    for (let r = 0; r < testX.rows; r++) {
      const row = testX.data.subarray(r * 2048, (r + 1) * 2048);
      const predicted = dot(row, spam) / norm(spam) > dot(row, ham) / norm(ham) ? 1 : 0;
      if (predicted === testY[r]) correct++;
    }
    const accuracy = correct / testX.rows;
    const majority = Math.max(...[0, 1].map((k) => testY.filter((y) => y === k).length)) / testX.rows;
    expect(accuracy).toBeGreaterThan(Math.min(0.97, majority + 0.15));
  });

  it('labelIds rejects documents whose label is not in the list', () => {
    const ham = train.filter((d) => d.attributes.label === 'ham').slice(0, 3);
    expect(labelIds(ham, 'label', SPAM_LABELS)).toEqual(Int32Array.from([0, 0, 0]));
    expect(() => labelIds(ham, 'label', ['spam'])).toThrow(/label='ham', not one of: spam/);
  });
});
