/**
 * Secure aggregation overhead: one round of n clients uploading a PiCa-sized update of tiny-gpt, once in the
 * clear (chunked transfer + commit, FedAvg) and once through the four secagg phases (client drivers, the
 * coordinator's SecureRound, same FedAvg underneath), both through real encoded frames in this process.
 *
 * time: wall time of everything every party computes for the round (encoding, decoding, key agreement,
 * Shamir sharing, PRG masks, unmasking, aggregation), run sequentially on one core, so the ratio is total
 * compute, not latency (clients work in parallel in a real fleet; the coordinator's share is logged too).
 * bytes: every frame both ways (uploads, roster and share broadcasts, unmask requests); the global-state
 * download is the same in both runs and left out.
 *
 * n = 10 runs in `--quick`; n = 100 only in the full run (~2n² X25519 agreements: ~5 s with node:crypto, tens of
 * seconds with the pure-JS fallback, `FEDPEFT_SECAGG_CRYPTO=js`). The log names the implementations in use.
 */
import { SecAggClientDriver } from '../../client/privacy/secagg-client-driver.ts';
import { deltaFrom } from '../../client/privacy/update-privacy.ts';
import { describeMethod } from '../../server/method-state.ts';
import { SecureAggregation, type SecAggClientRecord } from '../../server/privacy/secure-aggregation.ts';
import { FedAvg } from '../../server/strategies/fedavg.ts';
import { ClientSampler, samplingSchema } from '../../server/strategies/client-sampler.ts';
import { aggregate } from '../../server/strategies/strategy.ts';
import { secAggCrypto } from '../../shared/privacy/secagg/crypto/select.ts';
import { layoutOf, layoutSize } from '../../shared/privacy/update-vector.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
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
import type { BenchContext, BenchSuite } from '../harness/types.ts';

class FrameCounter {
  bytes = 0;
  send<K extends MessageKind>(from: Sender, kind: K, body: unknown): MessageBody<K> {
    const frame = encodeFrame({ message: { kind, body } as WireMessageInput }, { from });
    this.bytes += frame.length;
    return decodeFrame(frame, { from }).message.body as MessageBody<K>;
  }
  transfer(transfer: OutgoingTransfer) {
    const receiver = new TransferReceiver(this.send('client', 'transferManifest', transfer.manifest));
    for (const chunk of transfer.chunks()) {
      const ack = receiver.accept(this.send('client', 'tensorChunk', chunk));
      this.send('coordinator', 'chunkAck', ack);
    }
    return receiver;
  }
}

function clientUpdates(global: HostTensorMap, n: number): HostTensorMap[] {
  const rng = new Rng(3);
  return Array.from({ length: n }, () => {
    const out: HostTensorMap = new Map();
    for (const [name, t] of global) {
      out.set(name, { shape: [...t.shape], data: t.data.map((v) => v + 0.01 * rng.normal()) });
    }
    return out;
  });
}

const sampler = () => new ClientSampler(samplingSchema.parse({}), 1);

function plainRound(
  global: HostTensorMap,
  rules: ReturnType<typeof describeMethod>['rules'],
  updates: HostTensorMap[],
) {
  const wire = new FrameCounter();
  const t0 = performance.now();
  const received = updates.map((u, i) => {
    const receiver = wire.transfer(OutgoingTransfer.fromHostTensors(`u-${i}`, u));
    const commit = wire.send('client', 'updateCommit', {
      roundId: 1,
      transferId: `u-${i}`,
      numExamples: 1,
      weight: 1,
    });
    wire.send('coordinator', 'updateReceipt', { roundId: 1, transferId: commit.transferId });
    return { clientId: `c${i}`, weight: 1, tensors: receiver.hostTensors() };
  });
  aggregate(new FedAvg(sampler()), { round: 1, global, rules }, received);
  return { ms: performance.now() - t0, bytes: wire.bytes };
}

async function secureRound(
  global: HostTensorMap,
  rules: ReturnType<typeof describeMethod>['rules'],
  updates: HostTensorMap[],
) {
  const wire = new FrameCounter();
  const n = updates.length;
  let serverMs = 0;
  const onServer = <T>(fn: () => T): T => {
    const t = performance.now();
    try {
      return fn();
    } finally {
      serverMs += performance.now() - t;
    }
  };
  const t0 = performance.now();
  const strategy = new SecureAggregation(new FedAvg(sampler()), { runId: 'bench' });
  const ids = updates.map((_, i) => `c${i}`);
  onServer(() => strategy.configureRound({ round: 1, clients: ids.map((id) => ({ id })) }));
  const round = onServer(() => strategy.beginAggregation({ round: 1, global, rules }));
  const layout = layoutOf(global);
  const drivers = ids.map(
    (id) =>
      new SecAggClientDriver({
        roundId: 1,
        wireConfig: wire.send('coordinator', 'roundInstruction', {
          roundId: 1,
          globalState: { transferId: 'g1' },
          secureAggregation: round.configFor(id),
        }).secureAggregation,
        layout,
      }),
  );
  const receive = (id: string, record: SecAggClientRecord) => onServer(() => round.receive(id, record));
  const close = () =>
    new Map(
      onServer(() => round.closePhase()).map((r) => [
        r.clientId,
        wire.send('coordinator', r.message.kind, r.message.body),
      ]),
    );
  drivers.forEach((d, i) =>
    receive(ids[i]!, {
      kind: 'secaggAdvertiseKeys',
      body: wire.send('client', 'secaggAdvertiseKeys', d.start()),
    }),
  );
  const rosters = close();
  for (const [i, d] of drivers.entries()) {
    const body = await d.onKeysBroadcast(rosters.get(ids[i]!) as MessageBody<'secaggKeysBroadcast'>);
    receive(ids[i]!, { kind: 'secaggShareKeys', body: wire.send('client', 'secaggShareKeys', body) });
  }
  const deliveries = close();
  drivers.forEach((d, i) => {
    d.onSharesDelivery(deliveries.get(ids[i]!) as MessageBody<'secaggSharesDelivery'>);
    const { message, tensors } = d.maskedInput(deltaFrom(updates[i]!, global), 1, `m-${i}`);
    const receiver = wire.transfer(OutgoingTransfer.fromTensors(message.transferId, tensors));
    const body = wire.send('client', 'secaggMaskedInput', message);
    receive(ids[i]!, { kind: 'secaggMaskedInput', body, tensors: receiver.tensors() });
  });
  const requests = close();
  drivers.forEach((d, i) => {
    const body = d.onUnmaskRequest(requests.get(ids[i]!) as MessageBody<'secaggUnmaskRequest'>);
    receive(ids[i]!, {
      kind: 'secaggUnmaskResponse',
      body: wire.send('client', 'secaggUnmaskResponse', body),
    });
  });
  const ts = performance.now();
  const outcome = await round.complete();
  serverMs += performance.now() - ts;
  if (outcome.contributors.length !== n)
    throw new Error(`secure round included ${outcome.contributors.length} of ${n}`);
  return { ms: performance.now() - t0, serverMs, bytes: wire.bytes };
}

async function measureFor(
  ctx: BenchContext,
  n: number,
  global: HostTensorMap,
  rules: ReturnType<typeof describeMethod>['rules'],
) {
  const updates = clientUpdates(global, n);
  plainRound(global, rules, updates.slice(0, 2)); // warm the code paths
  const plainReps = ctx.quick ? 3 : 5;
  const plain = Array.from({ length: plainReps }, () => plainRound(global, rules, updates)).sort(
    (a, b) => a.ms - b.ms,
  );
  const plainMedian = plain[Math.floor(plainReps / 2)]!;
  const secure = await secureRound(global, rules, updates);
  ctx.record(`secagg.${n}.plain_round_ms`, plainMedian.ms, 'ms');
  ctx.record(`secagg.${n}.secure_round_ms`, secure.ms, 'ms');
  ctx.record(`secagg.${n}.secure_coordinator_ms`, secure.serverMs, 'ms');
  ctx.record(`secagg.${n}.overhead_time_ratio`, secure.ms / plainMedian.ms, 'x');
  ctx.record(`secagg.${n}.plain_bytes`, plainMedian.bytes, 'B');
  ctx.record(`secagg.${n}.secure_bytes`, secure.bytes, 'B');
  ctx.record(`secagg.${n}.overhead_bytes_ratio`, secure.bytes / plainMedian.bytes, 'x');
  ctx.log(
    `secagg n=${n}: ${secure.ms.toFixed(0)} ms (coordinator ${secure.serverMs.toFixed(0)} ms) vs ${plainMedian.ms.toFixed(1)} ms in the clear; ` +
      `${secure.bytes} vs ${plainMedian.bytes} bytes`,
  );
}

export const secAggSuite: BenchSuite = {
  name: 'secagg',
  description:
    'secure aggregation overhead (time, bytes) vs. plain aggregation, PiCa on tiny-gpt, n = 10 and 100',
  async run(ctx) {
    const method = describeMethod({
      model: 'tiny-gpt',
      modelConfig: {},
      method: 'pica',
      methodConfig: {},
      seed: 1,
    });
    const global = method.initialShared;
    const { x25519, chacha20, aead } = secAggCrypto;
    ctx.log(
      `secagg crypto: X25519 ${x25519.name}, ChaCha20 ${chacha20.name}, ChaCha20-Poly1305 ${aead.name}`,
    );
    ctx.log(
      `PiCa shared state on tiny-gpt: ${layoutSize(layoutOf(global))} floats in ${global.size} tensors`,
    );
    for (const n of ctx.quick ? [10] : [10, 100]) await measureFor(ctx, n, global, method.rules);
  },
};
