import { describe, expect, it } from 'vitest';
import { deviceClassSchema, devicesSchema, type DeviceClass } from './device-profile.ts';
import {
  assignDeviceClasses,
  deriveCapacity,
  DeviceFleet,
  drawRound,
  trainingMemoryBytes,
  transferSeconds,
  type TrainingFootprint,
} from './devices.ts';

const cls = (input: Record<string, unknown>): DeviceClass => deviceClassSchema.parse(input);
const ids = (n: number) => Array.from({ length: n }, (_, i) => `client-${String(i).padStart(4, '0')}`);

const FOOTPRINT: TrainingFootprint = {
  baseParams: 1_000_000,
  activationBytes: 2_000_000,
  adapterParamsPerRank: 1_000,
  maxRank: 16,
};

describe('assignDeviceClasses', () => {
  const classes = [
    cls({ name: 'a', share: 0.5 }),
    cls({ name: 'b', share: 0.3 }),
    cls({ name: 'c', share: 0.2 }),
  ];

  it('meets the shares exactly when they divide the fleet', () => {
    const counts = new Map<string, number>();
    for (const c of assignDeviceClasses(ids(100), classes, 1).values())
      counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ a: 50, b: 30, c: 20 });
  });

  it('gives every client a class, by largest remainder when shares do not divide', () => {
    const a = assignDeviceClasses(ids(7), classes, 1);
    expect(a.size).toBe(7);
    const names = [...a.values()].map((c) => c.name);
    expect(names.filter((n) => n === 'a')).toHaveLength(4); // 3.5 -> 3 + remainder 0.5 first
    expect(names.filter((n) => n === 'b')).toHaveLength(2);
    expect(names.filter((n) => n === 'c')).toHaveLength(1);
  });

  it('is reproducible from the seed, independent of client order, and changes with the seed', () => {
    const flat = (m: Map<string, DeviceClass>) => [...m].map(([id, c]) => `${id}:${c.name}`).sort();
    const one = flat(assignDeviceClasses(ids(50), classes, 7));
    expect(flat(assignDeviceClasses(ids(50), classes, 7))).toEqual(one);
    expect(flat(assignDeviceClasses([...ids(50)].reverse(), classes, 7))).toEqual(one);
    expect(flat(assignDeviceClasses(ids(50), classes, 8))).not.toEqual(one);
  });
});

describe('drawRound', () => {
  it('is a pure function of (seed, round, client) and differs across rounds', () => {
    const c = cls({ availability: 0.5, dropout: 0.5 });
    expect(drawRound(3, 4, 'x', c)).toEqual(drawRound(3, 4, 'x', c));
    const perRound = Array.from({ length: 40 }, (_, r) => drawRound(3, r, 'x', c).available);
    expect(new Set(perRound).size).toBe(2);
  });

  it('matches the configured availability and dropout rates', () => {
    const c = cls({ availability: 0.7, dropout: 0.2 });
    let available = 0;
    let dropped = 0;
    const n = 4000;
    for (const id of ids(n)) {
      const d = drawRound(11, 1, id, c);
      if (d.available) available++;
      if (d.dropsOut) dropped++;
    }
    // Binomial std at n=4000 is <= 0.008; 4 std keeps the test deterministic-safe and still able to fail.
    expect(Math.abs(available / n - 0.7)).toBeLessThan(0.032);
    expect(Math.abs(dropped / n - 0.2)).toBeLessThan(0.032);
  });

  it('never drops a class with dropout 0 and always has availability 1 online', () => {
    const c = cls({});
    for (const id of ids(200))
      expect(drawRound(0, 2, id, c)).toMatchObject({ available: true, dropsOut: false });
  });
});

describe('deriveCapacity', () => {
  const full = trainingMemoryBytes(FOOTPRINT, 16, 0);

  it('counts base, mask, activations and four copies of every trainable value', () => {
    expect(full).toBe(1_000_000 * 4 + 2_000_000 + 16 * 1_000 * 16);
    expect(trainingMemoryBytes(FOOTPRINT, 16, 0.5)).toBe(500_000 * 4 + 125_000 + 2_000_000 + 256_000);
  });

  it('leaves an unlimited device at full rank and dense', () => {
    expect(deriveCapacity(cls({}), FOOTPRINT, ['rank', 'sparsity'], 0.7)).toMatchObject({
      rank: 16,
      sparsity: 0,
      budgetBytes: null,
      fits: true,
    });
  });

  it('raises sparsity to the smallest whole percent that fits the budget', () => {
    const cap = deriveCapacity(cls({ memoryFraction: 0.6 }), FOOTPRINT, ['sparsity'], 0.7);
    expect(cap.rank).toBe(16);
    expect(cap.fits).toBe(true);
    expect(cap.memoryBytes).toBeLessThanOrEqual(0.6 * full);
    expect(trainingMemoryBytes(FOOTPRINT, 16, cap.sparsity - 0.01)).toBeGreaterThan(0.6 * full);
  });

  it('lowers the rank when sparsity alone cannot fit, and reports a device that cannot fit at all', () => {
    // Budget below base+activations at max sparsity: rank must drop.
    const tight = trainingMemoryBytes(FOOTPRINT, 4, 0.7);
    const cap = deriveCapacity(cls({ memoryMb: tight / 2 ** 20 }), FOOTPRINT, ['sparsity', 'rank'], 0.7);
    expect(cap).toMatchObject({ rank: 4, sparsity: 0.7, fits: true });
    const rankOnly = deriveCapacity(cls({ memoryFraction: 0.99 }), FOOTPRINT, ['rank'], 0.7);
    expect(rankOnly.rank).toBeLessThan(16);
    expect(rankOnly.fits).toBe(true);
    const hopeless = deriveCapacity(cls({ memoryFraction: 0.1 }), FOOTPRINT, ['rank'], 0.7);
    expect(hopeless).toMatchObject({ rank: 1, fits: false });
  });

  it('lets explicit rank and sparsity win over the budget', () => {
    const cap = deriveCapacity(
      cls({ memoryFraction: 0.6, rank: 2, sparsity: 0.1 }),
      FOOTPRINT,
      ['rank', 'sparsity'],
      0.7,
    );
    expect(cap).toMatchObject({ rank: 2, sparsity: 0.1, fits: false });
  });
});

describe('DeviceFleet.simulateRound', () => {
  const devices = devicesSchema.parse({
    classes: [
      { name: 'fast', share: 0.5, speed: 1, upMbps: 8, downMbps: 80, latencyMs: 0 },
      { name: 'slow', share: 0.5, speed: 0.1, upMbps: 8, downMbps: 80, latencyMs: 0 },
    ],
  });
  const fleet = new DeviceFleet(devices, ids(10), 5, FOOTPRINT);

  it('turns measured compute and bytes into simulated time per class', () => {
    expect(transferSeconds(1_000_000, 8, 0)).toBeCloseTo(1);
    expect(transferSeconds(0, 8, 250)).toBeCloseTo(0.25);
    const work = ids(10).map((clientId) => ({
      clientId,
      measuredComputeSeconds: 2,
      bytesDown: 10_000_000,
      bytesUp: 1_000_000,
    }));
    const round = fleet.simulateRound(1, work);
    for (const c of round.clients) {
      expect(c.downloadSeconds).toBeCloseTo(1);
      expect(c.uploadSeconds).toBeCloseTo(1);
      expect(c.computeSeconds).toBeCloseTo(c.deviceClass === 'fast' ? 2 : 20);
    }
    expect(round.completed).toHaveLength(10);
    expect(round.roundSeconds).toBeCloseTo(22);
  });

  it('drops stragglers past the deadline and ends the round at the deadline', () => {
    const work = ids(10).map((clientId) => ({
      clientId,
      measuredComputeSeconds: 2,
      bytesDown: 0,
      bytesUp: 0,
    }));
    const round = fleet.simulateRound(1, work, 10);
    const slow = ids(10).filter((id) => fleet.deviceOf(id).name === 'slow');
    expect(round.dropped.map((d) => d.clientId).sort()).toEqual(slow.sort());
    expect(round.dropped.every((d) => d.reason === 'deadline')).toBe(true);
    expect(round.roundSeconds).toBe(10);
  });

  it('applies the seeded dropouts reproducibly', () => {
    const flaky = devicesSchema.parse({ classes: [{ name: 'flaky', dropout: 0.5 }] });
    const a = new DeviceFleet(flaky, ids(40), 9).simulateRound(
      3,
      ids(40).map((clientId) => ({ clientId, measuredComputeSeconds: 1, bytesDown: 0, bytesUp: 0 })),
    );
    const b = new DeviceFleet(flaky, ids(40), 9).simulateRound(
      3,
      ids(40).map((clientId) => ({ clientId, measuredComputeSeconds: 1, bytesDown: 0, bytesUp: 0 })),
    );
    expect(a).toEqual(b);
    expect(a.dropped.length).toBeGreaterThan(5);
    expect(a.dropped.length).toBeLessThan(35);
    expect(a.dropped.every((d) => d.reason === 'dropout')).toBe(true);
  });

  it('lists only online clients that fit their training in memory', () => {
    const mixed = devicesSchema.parse({
      classes: [
        { name: 'ok', share: 0.5 },
        { name: 'tiny', share: 0.5, memoryFraction: 0.05 },
      ],
    });
    const f = new DeviceFleet(mixed, ids(10), 1, FOOTPRINT);
    const available = f.available(1);
    expect(available).toHaveLength(5);
    expect(available.every((id) => f.deviceOf(id).name === 'ok')).toBe(true);
    expect(() => f.deviceOf('nobody')).toThrow(/not part of this fleet/);
  });
});
