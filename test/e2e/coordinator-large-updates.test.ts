/**
 * Updates far beyond socket.io's 1 MB default frame: full fine-tuning of a 4096 x 1024 kernel (16.8 MB per
 * transfer) for 3 clients over 2 rounds moves more than 200 MB through the chunked transfers, and the
 * aggregate is still the exact weighted mean.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { expectedMean, NullClient } from './null-client.ts';
import { maxAbsDiff, startCoordinator, TOKEN, type Started } from './coordinator-fixture.ts';

let started: Started | undefined;
const clients: NullClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  await started?.close();
  started = undefined;
});

describe('large updates', () => {
  it('moves >= 200 MB of 16.8 MB updates through socket.io and aggregates them exactly', async () => {
    started = await startCoordinator({
      model: { name: 'mlp-classifier', config: { inputDim: 4096, hiddenDims: [1024] } },
      method: { name: 'full', config: { roles: ['up'] } },
      strategy: { name: 'fedavg', sampling: { minClients: 3 } },
      transport: { chunkBytes: 512 * 1024 },
      checkpoint: { journal: true },
    });
    const { coordinator, method, url } = started;
    const bytes = [...method.initialShared.values()].reduce((s, t) => s + t.data.byteLength, 0);
    expect(bytes).toBeGreaterThan(16e6);
    for (let i = 0; i < 3; i++) {
      const c = new NullClient({
        name: `big${i}`,
        index: i,
        token: TOKEN,
        method: 'full',
        url,
        chunkBytes: 512 * 1024,
      });
      clients.push(c);
      await c.connect();
    }
    const traffic: number[] = [];
    coordinator.onRound((s) => traffic.push(s.bytesUp + s.bytesDown));
    const t0 = Date.now();
    coordinator.start();
    await coordinator.whenFinished();
    const seconds = (Date.now() - t0) / 1000;
    const total = traffic.reduce((a, b) => a + b, 0);
    console.log(
      `large updates: ${(total / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s (${(total / 1e6 / seconds).toFixed(0)} MB/s incl. aggregation, journal, checkpoints)`,
    );
    expect(total).toBeGreaterThanOrEqual(200e6);
    const all = [0, 1, 2].map((index) => ({ index, weight: index + 1 }));
    const want = expectedMean(expectedMean(method.initialShared, 1, all), 2, all);
    expect(maxAbsDiff(coordinator.globalState(), want)).toBeLessThan(1e-5);
  });
});
