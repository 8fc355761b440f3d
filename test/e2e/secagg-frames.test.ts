/**
 * Secure aggregation end to end through real protocol frames: n client drivers (client/privacy) and the
 * coordinator's SecureRound (server/privacy) exchange every record as an encoded Envelope
 * (encodeFrame -> bytes -> decodeFrame), and each masked input as a real chunked transfer.
 */
import { describe, expect, it } from 'vitest';
import { SecAggClientDriver } from '../../client/privacy/secagg-client-driver.ts';
import { privatizeUpdate } from '../../client/privacy/update-privacy.ts';
import { DifferentiallyPrivate } from '../../server/privacy/dp-strategy.ts';
import { SecureAggregation, type SecAggClientRecord } from '../../server/privacy/secure-aggregation.ts';
import { SECURE_SUM_CLIENT_ID } from '../../server/privacy/secure-sum.ts';
import { FedAvg } from '../../server/strategies/fedavg.ts';
import { ClientSampler, samplingSchema } from '../../server/strategies/client-sampler.ts';
import { StrategyWrapper } from '../../server/strategies/strategy-wrapper.ts';
import type { AggregateContext, ClientUpdate, RoundAggregation } from '../../server/strategies/strategy.ts';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { seededGaussianSource } from '../../shared/privacy/gaussian-source.ts';
import { chooseRing } from '../../shared/privacy/secagg/fixed-point-ring.ts';
import type { HeldVector } from '../../shared/privacy/secagg/server.ts';
import { flattenUpdate, layoutOf } from '../../shared/privacy/update-vector.ts';
import type { HostTensor, HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { OutgoingTransfer, TransferReceiver } from '../../shared/wire/chunking.ts';
import {
  decodeFrame,
  encodeFrame,
  type MessageBody,
  type MessageKind,
  type Sender,
  type WireMessageInput,
} from '../../shared/wire/messages.ts';

/** Records what the wrapped strategy is given: it must only ever see the secure sum. */
class Spy extends StrategyWrapper {
  protected readonly wrapperName = 'spy';
  seen: ClientUpdate[] = [];
  override beginAggregation(context: AggregateContext): RoundAggregation {
    const inner = super.beginAggregation(context);
    return {
      get count() {
        return inner.count;
      },
      add: (u) => {
        this.seen.push(u);
        inner.add(u);
      },
      finish: () => inner.finish(),
    };
  }
}

const rules = new Map<string, AggregationRule>([
  ['B.q', { kind: 'weighted-mean' }],
  ['B.v', { kind: 'weighted-mean' }],
]);

/** Through real bytes: encode as `from`, decode as the receiver would. */
function overWire<K extends MessageKind>(from: Sender, kind: K, body: unknown): MessageBody<K> {
  const bytes = encodeFrame({ message: { kind, body } as WireMessageInput }, { from });
  const frame = decodeFrame(bytes, { from });
  expect(frame.message.kind).toBe(kind);
  return frame.message.body as MessageBody<K>;
}

function viaTransfer(transfer: OutgoingTransfer) {
  const manifest = overWire('client', 'transferManifest', transfer.manifest);
  const receiver = new TransferReceiver(manifest);
  for (const chunk of transfer.chunks()) receiver.accept(overWire('client', 'tensorChunk', chunk));
  return receiver.tensors();
}

function randomMap(rng: Rng, base: HostTensorMap, scale: number): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, t] of base) {
    out.set(name, { shape: [...t.shape], data: t.data.map((v) => v + scale * rng.normal()) });
  }
  return out;
}

interface Scenario {
  n: number;
  dropBeforeMaskedInput?: number[];
  dropBeforeUnmask?: number[];
  dp?: boolean;
}

async function runRound(s: Scenario) {
  const rng = new Rng(11);
  const global: HostTensorMap = new Map([
    ['B.q', { shape: [4, 8], data: Float32Array.from({ length: 32 }, () => rng.normal()) }],
    ['B.v', { shape: [4, 6], data: Float32Array.from({ length: 24 }, () => rng.normal()) }],
  ]);
  const spy = new Spy(new FedAvg(new ClientSampler(samplingSchema.parse({}), 1)));
  const inner = s.dp
    ? new DifferentiallyPrivate(spy, {
        config: { placement: 'distributed', noiseMultiplier: 0.5, clipNorm: 1, noiseSource: 'seeded' },
      })
    : spy;
  const held: HeldVector[] = [];
  const strategy = new SecureAggregation(inner, {
    runId: 'run-1',
    onVectorHeld: (h) => held.push({ ...h, values: h.values.slice() }),
  });
  const ids = Array.from({ length: s.n }, (_, i) => `session-${i}`);
  const instructions = strategy.configureRound({ round: 3, clients: ids.map((id) => ({ id })) });
  const round = strategy.beginAggregation({ round: 3, global, rules });

  const layout = layoutOf(global);
  const clients = instructions.map((instr) => {
    const wireConfig = overWire('coordinator', 'roundInstruction', {
      roundId: 3,
      globalState: { transferId: 'g3' },
      hyperparamsJson: JSON.stringify(instr.extra ?? {}),
      secureAggregation: round.configFor(instr.clientId),
    }).secureAggregation;
    const driver = new SecAggClientDriver({ roundId: 3, wireConfig, layout });
    const updated = randomMap(rng, global, 0.05);
    const noise =
      s.dp && instr.clientNoise
        ? { clipNorm: instr.clientNoise.clipNorm, noiseStd: instr.clientNoise.noiseStd }
        : null;
    const source = seededGaussianSource(rng.fork(instr.clientId));
    const { delta } = privatizeUpdate(updated, global, noise, source);
    return {
      id: instr.clientId,
      driver,
      delta,
      weight: s.dp ? 1 : 1 + (Number(instr.clientId.slice(8)) % 3),
    };
  });

  const deliver = (records: { clientId: string; message: WireMessageInput }[]) =>
    new Map(records.map((r) => [r.clientId, overWire('coordinator', r.message.kind, r.message.body)]));
  const send = (id: string, record: SecAggClientRecord) => round.receive(id, record);

  for (const c of clients)
    send(c.id, {
      kind: 'secaggAdvertiseKeys',
      body: overWire('client', 'secaggAdvertiseKeys', c.driver.start()),
    });
  expect(round.awaiting).toEqual([]);
  const rosters = deliver(round.closePhase());
  for (const c of clients) {
    const share = await c.driver.onKeysBroadcast(rosters.get(c.id) as MessageBody<'secaggKeysBroadcast'>);
    send(c.id, { kind: 'secaggShareKeys', body: overWire('client', 'secaggShareKeys', share) });
  }
  const deliveries = deliver(round.closePhase());
  const dropMasked = new Set(s.dropBeforeMaskedInput ?? []);
  const maskedTensors: Uint32Array[] = [];
  clients.forEach((c, i) => {
    c.driver.onSharesDelivery(deliveries.get(c.id) as MessageBody<'secaggSharesDelivery'>);
    if (dropMasked.has(i)) return;
    const { message, tensors } = c.driver.maskedInput(c.delta, c.weight, `masked-${i}`);
    const received = viaTransfer(OutgoingTransfer.fromTensors(message.transferId, tensors));
    maskedTensors.push(Uint32Array.from(received[0]!.tensor.data));
    send(c.id, {
      kind: 'secaggMaskedInput',
      body: overWire('client', 'secaggMaskedInput', message),
      tensors: received,
    });
  });
  const requests = deliver(round.closePhase());
  const dropUnmask = new Set(s.dropBeforeUnmask ?? []);
  clients.forEach((c, i) => {
    const request = requests.get(c.id);
    if (!request || dropUnmask.has(i)) return;
    const response = c.driver.onUnmaskRequest(request as MessageBody<'secaggUnmaskRequest'>);
    send(c.id, { kind: 'secaggUnmaskResponse', body: overWire('client', 'secaggUnmaskResponse', response) });
  });
  const outcome = await round.complete();
  const included = clients.filter((_, i) => !dropMasked.has(i));
  return { global, outcome, included, held, spy, maskedTensors, layout, clients };
}

/** The plaintext weighted mean of the included clients' (privatized) deltas, added to the global. */
function plaintextMean(global: HostTensorMap, included: { delta: HostTensorMap; weight: number }[]) {
  const out = new Map<string, Float64Array>();
  let total = 0;
  for (const c of included) {
    total += c.weight;
    for (const [name, d] of c.delta) {
      const acc = out.get(name) ?? new Float64Array(d.data.length);
      d.data.forEach((v, i) => (acc[i] = (acc[i] as number) + c.weight * v));
      out.set(name, acc);
    }
  }
  return new Map(
    [...out].map(([name, acc]) => [
      name,
      acc.map((v, i) => ((global.get(name) as HostTensor).data[i] as number) + v / total),
    ]),
  );
}

describe('secure aggregation through encoded frames', () => {
  it('equals the plaintext weighted aggregate within the fixed-point error, with dropouts after masked input', async () => {
    const { global, outcome, included, spy } = await runRound({ n: 7, dropBeforeUnmask: [1, 4] });
    const expected = plaintextMean(global, included);
    expect(outcome.contributors).toHaveLength(7);
    expect(outcome.metrics.secaggUnresponsive).toBe(2);
    const bound = outcome.metrics.secaggQuantizationErrorBound as number;
    expect(bound).toBeGreaterThan(0);
    const total = included.reduce((s, c) => s + c.weight, 0);
    for (const [name, t] of outcome.global) {
      const e = expected.get(name) as Float64Array;
      // Sum error <= bound; mean error <= bound / total weight; plus float32 rounding of the result.
      t.data.forEach((v, i) => expect(Math.abs(v - (e[i] as number))).toBeLessThan(bound / total + 1e-6));
    }
    // The wrapped strategy saw one update: the secure sum, never an individual client.
    expect(spy.seen.map((u) => u.clientId)).toEqual([SECURE_SUM_CLIENT_ID]);
    expect(spy.seen[0]?.weight).toBeCloseTo(total, 9);
  });

  it('excludes clients that drop before masked input, and the coordinator never holds an individual update', async () => {
    const { global, outcome, included, held, maskedTensors, layout, clients } = await runRound({
      n: 6,
      dropBeforeMaskedInput: [2],
      dropBeforeUnmask: [0],
    });
    expect(outcome.contributors).toEqual(included.map((c) => c.id));
    expect(outcome.metrics.secaggExcluded).toBe(1);
    const expected = plaintextMean(global, included);
    for (const [name, t] of outcome.global) {
      const e = expected.get(name) as Float64Array;
      t.data.forEach((v, i) => expect(v).toBeCloseTo(e[i] as number, 4));
    }
    // Each client's plaintext in the ring: w·delta ‖ w. No held vector and no masked frame payload resembles
    // one (a masked coordinate matches a fixed value with probability 2^-32); only the final sum is unmasked.
    const ring = chooseRing({ clipRange: 8, fractionalBits: 16, clients: 6 });
    const plaintexts = clients.map(
      (c) => ring.encode([...flattenUpdate(c.delta, layout).map((v) => v * c.weight), c.weight]).vector,
    );
    const agreement = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let same = 0;
      for (let i = 0; i < b.length; i++) if (a[i] === b[i]) same++;
      return same / b.length;
    };
    const individual = [...held.filter((h) => h.kind !== 'sum').map((h) => h.values), ...maskedTensors];
    expect(individual.length).toBeGreaterThan(5);
    for (const v of individual) for (const p of plaintexts) expect(agreement(v, p)).toBeLessThan(0.05);
    const sums = held.filter((h) => h.kind === 'sum');
    expect(sums).toHaveLength(1);
    expect(sums[0]?.clientIds).toHaveLength(5);
    // Negative control: the check does flag a plaintext.
    expect(agreement(plaintexts[0]!, plaintexts[0]!)).toBe(1);
  });

  it('composes with distributed DP: clients clip and noise, the DP wrapper divides the secure sum by the sampled count', async () => {
    const { global, outcome, included } = await runRound({ n: 5, dp: true, dropBeforeMaskedInput: [3] });
    expect(outcome.metrics.dpExpectedClients).toBe(5);
    expect(outcome.metrics.dpEpsilon).toBeGreaterThan(0);
    for (const c of included) {
      // Every delta left the device clipped (norm <= C = 1) before noise; with noise it is near, not below.
      expect(c.weight).toBe(1);
    }
    const sum = plaintextMean(global, included);
    // fixed denominator: global + Σ delta / 5 (4 included), not / 4.
    for (const [name, t] of outcome.global) {
      const g = (global.get(name) as HostTensor).data;
      const meanOf4 = sum.get(name) as Float64Array;
      t.data.forEach((v, i) => {
        const expected = (g[i] as number) + (((meanOf4[i] as number) - (g[i] as number)) * 4) / 5;
        expect(v).toBeCloseTo(expected, 4);
      });
    }
  });
});
