/**
 * Test-only fixtures shared by the strategy tests (never imported by product code): one shared tensor "B" of
 * two values and a few rounds whose numbers are small enough to check by hand.
 */
import type { AggregationRule } from '../../shared/adapters/types.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { ClientSampler, samplingSchema } from './client-sampler.ts';
import { aggregate, type Strategy } from './strategy.ts';

export const hostTensor = (shape: number[], values: readonly number[]): HostTensor => ({
  shape,
  data: Float32Array.from(values),
});

export const everyClientSampler = (seed = 1): ClientSampler =>
  new ClientSampler(samplingSchema.parse({}), seed);

export const singleMeanRule = new Map<string, AggregationRule>([['B', { kind: 'weighted-mean' }]]);

/**
 * Rounds of (weight, values of tensor "B" [2]) per client. The default two rounds: (w=1) [2,-2] and (w=3)
 * [2,0] -> weighted mean [2,-0.5]; then (w=1) [0,0] and (w=1) [1,1] -> [0.5,0.5].
 */
export const HAND_ROUNDS: readonly (readonly (readonly [number, readonly number[]])[])[] = [
  [
    [1, [2, -2]],
    [3, [2, 0]],
  ],
  [
    [1, [0, 0]],
    [1, [1, 1]],
  ],
  [
    [2, [0.3, -0.1]],
    [1, [-0.2, 0.4]],
  ],
];

/** Runs `rounds` starting from `start` (tensor "B") and returns the global after each round. */
export function runRounds(
  strategy: Strategy,
  start: readonly number[],
  rounds: typeof HAND_ROUNDS,
  firstRound = 1,
): number[][] {
  let global: HostTensorMap = new Map([['B', hostTensor([2], start)]]);
  return rounds.map((clients, r) => {
    const updates = clients.map(([weight, values], k) => ({
      clientId: `c${k}`,
      weight,
      tensors: new Map([['B', hostTensor([2], values)]]),
    }));
    global = aggregate(strategy, { round: firstRound + r, global, rules: singleMeanRule }, updates).global;
    return [...(global.get('B') as HostTensor).data];
  });
}

/**
 * Runs all HAND_ROUNDS continuously, and again with a restart after the first round (state exported, copied
 * as a checkpoint would, imported into a fresh instance); returns both trajectories and the one without the
 * restored state, so a test can show that state matters and that restoring it continues identically.
 */
export function restartScenario(make: () => Strategy): {
  continuous: number[][];
  restarted: number[][];
  withoutState: number[][];
} {
  const start = [1, -2];
  const continuous = runRounds(make(), start, HAND_ROUNDS);
  const before = make();
  const [afterFirst] = runRounds(before, start, HAND_ROUNDS.slice(0, 1));
  const saved = before.exportState();
  const checkpoint = {
    ...saved,
    tensors: new Map([...saved.tensors].map(([k, v]) => [k, { shape: [...v.shape], data: v.data.slice() }])),
    values: { ...saved.values },
  };
  const after = make();
  after.importState(checkpoint);
  const rest = runRounds(after, afterFirst as number[], HAND_ROUNDS.slice(1), 2);
  const withoutState = [
    afterFirst as number[],
    ...runRounds(make(), afterFirst as number[], HAND_ROUNDS.slice(1), 2),
  ];
  return { continuous, restarted: [afterFirst as number[], ...rest], withoutState };
}
