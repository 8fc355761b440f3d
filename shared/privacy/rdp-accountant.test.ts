import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_RDP_ORDERS,
  RdpAccountant,
  calibrateNoiseMultiplier,
  computeEpsilon,
  computeRdp,
  rdpToEpsilon,
} from './rdp-accountant.ts';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
/** The orders of the 2019 TF Privacy MNIST tutorial / compute_dp_sgd_privacy: 1.1..10.9 step 0.1, then 12..63. */
const TUTORIAL_ORDERS = [...range(1, 100).map((x) => 1 + x / 10), ...range(12, 64)];

describe('computeRdp (sampled Gaussian mechanism)', () => {
  // Reference values from TensorFlow Privacy's own tests, which check them against multi-precision numerical
  // integration (mpmath): tensorflow/privacy, tensorflow_privacy/privacy/analysis/rdp_accountant_test.py,
  // test_compute_rdp_scalar and test_compute_rdp_sequence (tolerance there: 1e-5 absolute).
  it('matches TF Privacy rdp_accountant_test: compute_rdp(0.1, 2, 10, 5) = 0.07737', () => {
    expect(computeRdp(0.1, 2, 10, [5])[0]).toBeCloseTo(0.07737, 5);
  });

  it('matches TF Privacy rdp_accountant_test: compute_rdp(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100, inf])', () => {
    const rdp = computeRdp(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100, Infinity]);
    const expected = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307, Infinity];
    expected.forEach((e, i) => {
      if (e === Infinity) expect(rdp[i]).toBe(Infinity);
      else expect(Math.abs((rdp[i] as number) - e)).toBeLessThan(1e-5);
    });
  });

  it('q = 1 is the plain Gaussian mechanism: exactly α/(2z²)·T at every order', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.3, max: 20, noNaN: true }),
        fc.integer({ min: 1, max: 10_000 }),
        (z, T) => {
          const rdp = computeRdp(1, z, T);
          DEFAULT_RDP_ORDERS.forEach((a, i) => expect(rdp[i]).toBe((a / (2 * z * z)) * T));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('the integer and fractional series both tend to the q = 1 closed form as q -> 1', () => {
    // Independent of the q === 1 shortcut: the general formulas must converge to it.
    const orders = [2, 3.5, 8, 12.5];
    const near = computeRdp(1 - 1e-9, 1.5, 1, orders);
    orders.forEach((a, i) => expect((near[i] as number) / (a / (2 * 1.5 * 1.5))).toBeCloseTo(1, 5));
  });

  it('q = 0 spends nothing, z = 0 is no privacy, RDP is linear in steps and increasing in q', () => {
    expect([...computeRdp(0, 1, 100)].every((v) => v === 0)).toBe(true);
    expect([...computeRdp(0.1, 0, 1)].every((v) => v === Infinity)).toBe(true);
    const one = computeRdp(0.02, 1.1, 1);
    const many = computeRdp(0.02, 1.1, 37);
    one.forEach((v, i) => expect(many[i]).toBeCloseTo(v * 37, 12));
    const more = computeRdp(0.04, 1.1, 1);
    one.forEach((v, i) => expect(more[i]).toBeGreaterThan(v));
  });

  it('rejects parameters outside their domain with a FedpeftError', () => {
    expect(() => computeRdp(1.5, 1, 1)).toThrow(/sampling rate/);
    expect(() => computeRdp(0.1, -1, 1)).toThrow(/noise multiplier/);
    expect(() => computeRdp(0.1, 1, 1, [0.5])).toThrow(/orders must be > 1/);
  });
});

describe('rdpToEpsilon', () => {
  it('balle2020 conversion matches TF Privacy rdp_accountant_test (improved conversion): constant RDP 1.1 on orders 2..32', () => {
    // tensorflow/privacy rdp_accountant_test.py test_get_privacy_spent_check_target_delta: eps = 1.32783806176, order 32.
    const orders = range(2, 33);
    const r = rdpToEpsilon(
      orders,
      orders.map(() => 1.1),
      1e-5,
    );
    expect(r.order).toBe(32);
    expect(r.epsilon).toBeCloseTo(1.32783806176, 9);
  });

  it('balle2020 conversion: the Gaussian mechanism with z = 4.530877117 is exactly (1, 1e-6)-DP (same TF Privacy test)', () => {
    const orders = range(1000, 100_000)
      .map((i) => 0.001 * i)
      .filter((a) => a > 1);
    const r = rdpToEpsilon(orders, computeRdp(1, 4.530877117, 1, orders), 1e-6);
    expect(r.epsilon).toBeCloseTo(1, 6);
  });

  it('reproduces the TF Privacy MNIST tutorial: N=60000, batch 256, z=1.1, 60 epochs, δ=1e-5 -> ε = 3.01 (classic conversion)', () => {
    // tensorflow/privacy tutorials/README.md (2019): "compute_dp_sgd_privacy.py --N=60000 --batch_size=256
    // --noise_multiplier=1.1 --epochs=60 --delta=1e-5 ... satisfies differential privacy with eps = 3.01".
    // That script used the orders above, steps = ceil(60·60000/256) = 14063 and the classic Mironov 2017
    // conversion eps = rdp - log(δ)/(α-1) (the improved one arrived in 2020).
    const rdp = computeRdp(256 / 60000, 1.1, 14063, TUTORIAL_ORDERS);
    const classic = rdpToEpsilon(TUTORIAL_ORDERS, rdp, 1e-5, 'classic');
    expect(Math.abs(classic.epsilon - 3.01) / 3.01).toBeLessThan(0.01);
    // The improved conversion is never worse; on this example it gives ≈ 2.60.
    const improved = rdpToEpsilon(TUTORIAL_ORDERS, rdp, 1e-5);
    expect(improved.epsilon).toBeLessThan(classic.epsilon);
    expect(improved.epsilon).toBeCloseTo(2.5966, 3);
  });

  it('reproduces the same README table rows (classic): z=1.3, 15 epochs -> 1.19; z=0.7, 45 epochs -> 7.10', () => {
    for (const [z, epochs, eps] of [
      [1.3, 15, 1.19],
      [0.7, 45, 7.1],
    ] as const) {
      const steps = Math.ceil((epochs * 60000) / 256);
      const r = rdpToEpsilon(
        TUTORIAL_ORDERS,
        computeRdp(256 / 60000, z, steps, TUTORIAL_ORDERS),
        1e-5,
        'classic',
      );
      expect(Math.abs(r.epsilon - eps) / eps).toBeLessThan(0.01);
    }
  });

  it('reproduces the Opacus compute_dp_sgd_privacy docs example (Balle 2020 conversion): q=0.01, z=1, 300 steps, alphas 2,5,10,20,100 -> ε = 2.39 at α = 5', () => {
    // https://opacus.ai/api/compute_dp_sgd_privacy.html; Opacus' get_privacy_spent is Balle et al. 2020 Thm 21.
    const alphas = [2, 5, 10, 20, 100];
    const r = rdpToEpsilon(alphas, computeRdp(0.01, 1, 300, alphas), 1e-5);
    expect(r.order).toBe(5);
    expect(Math.abs(r.epsilon - 2.39) / 2.39).toBeLessThan(0.01);
  });

  it('matches the classic-conversion values of the 2018 TF Privacy tests (1.258575 @ 20; 3.276237 @ 8)', () => {
    const o = range(2, 33);
    const a = rdpToEpsilon(o, computeRdp(0.01, 4, 10000, o), 1e-5, 'classic');
    expect(a.epsilon).toBeCloseTo(1.258575, 5);
    expect(a.order).toBe(20);
    const orders = [1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256];
    const r1 = computeRdp(0.01, 4, 10000, orders);
    const r2 = computeRdp(0.1, 2, 100, orders);
    const b = rdpToEpsilon(
      orders,
      r1.map((v, i) => v + (r2[i] as number)),
      1e-5,
      'classic',
    );
    expect(b.epsilon).toBeCloseTo(3.276237, 5);
    expect(b.order).toBe(8);
  });

  it('the improved conversion never exceeds the classic one (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
        fc.double({ min: 0.5, max: 5, noNaN: true }),
        fc.integer({ min: 1, max: 5000 }),
        fc.double({ min: 1e-10, max: 1e-2, noNaN: true }),
        (q, z, T, delta) => {
          const rdp = computeRdp(q, z, T);
          const improved = rdpToEpsilon(DEFAULT_RDP_ORDERS, rdp, delta).epsilon;
          expect(improved).toBeLessThanOrEqual(
            rdpToEpsilon(DEFAULT_RDP_ORDERS, rdp, delta, 'classic').epsilon + 1e-12,
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it('rejects δ outside (0, 1)', () => {
    expect(() => rdpToEpsilon([2], [1], 0)).toThrow(/delta/);
    expect(() => rdpToEpsilon([2], [1], 1)).toThrow(/delta/);
  });
});

describe('RdpAccountant', () => {
  it('step-by-step accounting equals the one-shot computation, and ε grows with every round', () => {
    const acc = new RdpAccountant();
    let last = 0;
    for (let i = 0; i < 50; i++) {
      acc.step(0.05, 1.2);
      const eps = acc.epsilon(1e-5);
      expect(eps).toBeGreaterThan(last);
      last = eps;
    }
    expect(acc.steps).toBe(50);
    expect(last).toBeCloseTo(
      computeEpsilon({ samplingRate: 0.05, noiseMultiplier: 1.2, steps: 50, delta: 1e-5 }).epsilon,
      10,
    );
  });

  it('composes heterogeneous rounds additively and survives a checkpoint round-trip', () => {
    const acc = new RdpAccountant();
    acc.step(0.01, 4, 10000);
    acc.step(0.1, 2, 100);
    const expected = computeRdp(0.01, 4, 10000).map((v, i) => v + (computeRdp(0.1, 2, 100)[i] as number));
    acc.rdp().forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 10));
    const restored = RdpAccountant.fromState(JSON.parse(JSON.stringify(acc.state())));
    expect(restored.epsilon(1e-5)).toBe(acc.epsilon(1e-5));
  });

  it('wouldExceed answers before the round, without spending', () => {
    const acc = new RdpAccountant();
    const budget = { epsilon: 2, delta: 1e-5 };
    let rounds = 0;
    while (!acc.wouldExceed(budget, 0.02, 1.0)) {
      acc.step(0.02, 1.0);
      rounds++;
      expect(acc.epsilon(1e-5)).toBeLessThanOrEqual(2);
    }
    expect(rounds).toBeGreaterThan(10);
    const before = acc.epsilon(1e-5);
    expect(acc.wouldExceed(budget, 0.02, 1.0)).toBe(true);
    expect(acc.epsilon(1e-5)).toBe(before);
    acc.step(0.02, 1.0);
    expect(acc.epsilon(1e-5)).toBeGreaterThan(2);
  });

  it('calibrateNoiseMultiplier finds the smallest z within the budget', () => {
    const budget = { epsilon: 3, delta: 1e-5 };
    const z = calibrateNoiseMultiplier({ samplingRate: 0.01, steps: 500, budget });
    const at = (zz: number) =>
      computeEpsilon({ samplingRate: 0.01, noiseMultiplier: zz, steps: 500, delta: 1e-5 }).epsilon;
    expect(at(z)).toBeLessThanOrEqual(3);
    expect(at(z * 0.99)).toBeGreaterThan(3);
  });
});
