import { describe, expect, it } from 'vitest';
import { useBackend } from '../shared/tensor/backend.ts';
import { tf } from '../shared/tensor/tf.ts';
import { describeMethod } from './method-state.ts';

const describeOn = (method: string, methodConfig: Record<string, unknown>) =>
  describeMethod({ model: 'test-gpt', modelConfig: {}, method, methodConfig, seed: 7 });

describe('describeMethod', () => {
  it('calls only methods with links chained (every core adapter has a setLink, so that is no signal)', async () => {
    await useBackend('cpu');
    const before = tf.memory().numTensors;
    expect(describeOn('pica', { r: 4, roles: ['q', 'v'] }).chained).toBe(false);
    expect(describeOn('lora', { r: 4, roles: ['q', 'v'] }).chained).toBe(false);
    const c3la = describeOn('c3la', { r: 4, roles: ['q', 'v'] });
    expect(c3la.chained).toBe(true);
    // A link starts from the reset state: c3LA's window B is zero again.
    const start = c3la.linkStart(1);
    expect([...start.keys()]).toEqual([...c3la.initialShared.keys()]);
    for (const t of start.values()) expect(t.data.every((v) => v === 0)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reports the rank and whether clients may train a smaller one', async () => {
    await useBackend('cpu');
    const pica = describeOn('pica', { r: 8, roles: ['q', 'v'] });
    expect(pica).toMatchObject({ rank: 8, heterogeneousRanks: true });
    expect(describeOn('hetlora', { r: 8, roles: ['q', 'v'] }).heterogeneousRanks).toBe(true);
    expect(describeOn('lora', { r: 8, roles: ['q', 'v'] }).heterogeneousRanks).toBe(false);
  });
});
