/**
 * Protocol follow-ups between coordinator and client, end to end over the in-process transport with real
 * `ClientRuntime`s and trainers:
 *   - per-client ranks from `Capabilities.max_rank` (PiCa 16 / 4: nested-prefix-mean exactly as offline);
 *   - HetLoRA's norms travel in `UpdateCommit.aggregation_norms` (the aggregate equals the offline rule), with
 *     rank-4 factors next to rank-8 ones;
 *   - c³LA's link index advances on the schedule; the coordinator restarts the link state, every client —
 *     sampled or not — folds the same aggregate, so all bases stay identical;
 *   - `Welcome.resume_uploads` lists a complete but uncommitted upload (complete = true), and the client
 *     commits it without sending a chunk again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../shared/aggregation/aggregator.ts';
import type { Contribution } from '../../shared/aggregation/contribution.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import type { MessageBody } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { encodeHostTensor } from '../../shared/wire/tensor-codec.ts';
import { TransferInbox } from '../../shared/wire/transfer-inbox.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
import type { RoundSummary } from '../../server/metrics-log.ts';
import type { CoordinatorConfigInput } from '../../server/config.ts';
import { maxAbsDiff, startCoordinator, TOKEN, waitFor, type Started } from './coordinator-fixture.ts';
import { inProcessClient, type InProcessClient } from './in-process-clients.ts';

let started: Started | undefined;
let clients: InProcessClient[] = [];
afterEach(async () => {
  for (const c of clients) c.runtime.stop('test over');
  await started?.close();
  for (const c of clients) c.runtime.dispose();
  started = undefined;
  clients = [];
});

function copy(map: HostTensorMap): HostTensorMap {
  return new Map([...map].map(([n, t]) => [n, { shape: [...t.shape], data: t.data.slice() }]));
}

/** Runs a federation of in-process clients and records the global before and after every round. */
async function federate(
  overrides: CoordinatorConfigInput,
  clientOptions: Array<Parameters<typeof inProcessClient>[2]>,
): Promise<{
  before: Map<number, HostTensorMap>;
  after: Map<number, HostTensorMap>;
  summaries: RoundSummary[];
}> {
  started = await startCoordinator(
    {
      round: { localSteps: 2, batchSize: 2, learningRate: 2e-2, dropAfterMs: 10_000 },
      ...overrides,
    },
    { socket: false },
  );
  const { coordinator } = started;
  const before = new Map<number, HostTensorMap>([[1, copy(coordinator.globalState())]]);
  const after = new Map<number, HostTensorMap>();
  const summaries: RoundSummary[] = [];
  coordinator.onRound((s) => {
    summaries.push(s);
    after.set(s.round, copy(coordinator.globalState()));
    before.set(s.round + 1, copy(coordinator.globalState()));
  });
  coordinator.start();
  clients = clientOptions.map((o, i) => inProcessClient(coordinator, i, o));
  const outcomes = await Promise.all(clients.map((c) => c.runtime.run()));
  for (const o of outcomes) expect(o.runComplete).toBe(true);
  return { before, after, summaries };
}

/** The offline rule: a fresh `Aggregator` over the uploads the clients committed in `round`. */
function offline(started: Started, previous: HostTensorMap, round: number): HostTensorMap {
  const aggregator = new Aggregator({ rules: started.method.rules, previous });
  for (const c of clients) {
    const u = c.commits.get(round);
    if (!u) continue;
    const extents = new Map<string, number>();
    for (const [name, extent] of u.update!.trainedExtents) {
      const rule = started.method.rules.get(name)!;
      if ('axis' in rule) extents.set(name, extent[rule.axis]!);
    }
    const contribution: Contribution = {
      clientId: `client-${c.index}`,
      weight: u.weight,
      tensors: u.shared,
      trainedExtents: extents,
      ...(u.norms ? { norms: u.norms } : {}),
    };
    aggregator.add(contribution);
  }
  return aggregator.result();
}

describe('protocol follow-ups, end to end in process', () => {
  it('assigns per-client ranks from max_rank: PiCa clients of rank 16 and 4 aggregate with nested-prefix-mean as offline', async () => {
    const run = { model: 'test-gpt', method: 'pica', methodConfig: { r: 16, roles: ['q', 'v'] }, seed: 7 };
    const { before, after } = await federate(
      {
        run: { rounds: 2 },
        method: { name: 'pica', config: { r: 16, roles: ['q', 'v'] } },
        strategy: { name: 'fedavg', sampling: { minClients: 2 } },
      },
      [
        { run, maxRank: 16 },
        { run, maxRank: 4 },
      ],
    );
    // The rank-4 client trained only the first 4 rows of every B (the nested prefix); the other the full 16.
    for (const round of [1, 2]) {
      const full = clients[0]!.commits.get(round)!.update!;
      const small = clients[1]!.commits.get(round)!.update!;
      for (const [name, extent] of small.trainedExtents) {
        expect(extent[0]).toBe(4);
        expect(full.trainedExtents.get(name)![0]).toBe(16);
      }
      const expected = offline(started!, before.get(round)!, round);
      expect(maxAbsDiff(after.get(round)!, expected)).toBeLessThan(1e-6);
    }
    // Rows 4..15 come from the rank-16 client alone: the rank really mattered.
    const g = after.get(1)!;
    const mine = clients[0]!.commits.get(1)!.shared;
    const name = [...g.keys()][0]!;
    const cols = g.get(name)!.shape[1]!;
    expect(g.get(name)!.data[5 * cols]).toBeCloseTo(mine.get(name)!.data[5 * cols]!, 6);
    expect(g.get(name)!.data[0]).not.toBeCloseTo(mine.get(name)!.data[0]!, 6);
  });

  it('carries HetLoRA norms in the commit: a rank-8 and a rank-4 client aggregate exactly as the offline rule', async () => {
    const run = { model: 'test-gpt', method: 'hetlora', methodConfig: { r: 8, roles: ['q', 'v'] }, seed: 7 };
    const { before, after } = await federate(
      {
        run: { rounds: 2 },
        method: { name: 'hetlora', config: { r: 8, roles: ['q', 'v'] } },
        strategy: { name: 'fedavg', sampling: { minClients: 2 } },
      },
      [
        { run, maxRank: 8 },
        { run, maxRank: 4 },
      ],
    );
    for (const round of [1, 2]) {
      for (const c of clients) {
        const u = c.commits.get(round)!;
        expect(u.norms?.size).toBe(u.shared.size);
        for (const n of u.norms!.values()) expect(n).toBeGreaterThan(0);
      }
      // The rank-4 client uploads rank-4 factors (A: [in, 4], B: [4, out]).
      for (const [name, t] of clients[1]!.commits.get(round)!.shared) {
        const axis = started!.method.rules.get(name)!;
        expect('axis' in axis && t.shape[axis.axis]).toBe(4);
      }
      const expected = offline(started!, before.get(round)!, round);
      expect(maxAbsDiff(after.get(round)!, expected)).toBeLessThan(1e-6);
    }
  });

  it('advances c3LA links on the schedule: the coordinator restarts each link, every client folds the same aggregate', async () => {
    const run = { model: 'test-gpt', method: 'c3la', methodConfig: { r: 4, roles: ['q', 'v'] }, seed: 7 };
    const { summaries, after } = await federate(
      {
        run: { rounds: 4 },
        method: { name: 'c3la', config: { r: 4, roles: ['q', 'v'] }, roundsPerLink: 2 },
        // A half server step, x <- x - 0.5 (x - mean): the result shows which x the round started from.
        strategy: {
          name: 'fedavgm',
          momentum: 0,
          serverLearningRate: 0.5,
          sampling: { minClients: 2, maxClients: 2 },
        },
      },
      [{ run }, { run }, { run }],
    );
    expect(started!.method.chained).toBe(true);
    expect(summaries.map((s) => s.linkIndex)).toEqual([0, 0, 1, 1]);
    // Round 3 starts link 1: the clients folded link 0 and restarted from the reset (zero) B, so the server
    // step starts from that reset, not from the link-0 aggregate.
    const reset = started!.method.linkStart(1);
    const mean = offline(started!, reset, 3);
    const half = (x: HostTensorMap) =>
      new Map(
        [...mean].map(([n, t]) => [
          n,
          { shape: t.shape, data: t.data.map((v, i) => 0.5 * (x.get(n)!.data[i]! + v)) },
        ]),
      );
    expect(maxAbsDiff(after.get(3)!, half(reset))).toBeLessThan(1e-6);
    expect(maxAbsDiff(after.get(3)!, half(after.get(2)!))).toBeGreaterThan(1e-4);
    // Only 2 of 3 clients train each round, yet every client folded both links' final aggregates.
    const kernels = clients.map((c) =>
      c.runtime.currentTrainer!.model.linears().map((l) => l.kernel.dataSync().slice()),
    );
    for (const c of clients) expect(c.runtime.currentTrainer!.adapter.currentLink).toBe(2);
    const sampledPerRound = summaries.map((s) => s.participants);
    expect(sampledPerRound).toEqual([2, 2, 2, 2]);
    for (const k of kernels.slice(1)) {
      k.forEach((data, i) => {
        let diff = 0;
        for (let j = 0; j < data.length; j++) diff = Math.max(diff, Math.abs(data[j]! - kernels[0]![i]![j]!));
        expect(diff).toBeLessThan(1e-6);
      });
    }
    // ... and the folds changed the base (identical untouched bases would pass vacuously).
    const { createModel } = await import('../../shared/model/zoo.ts');
    const base = createModel('test-gpt', { seed: 7 });
    const original = base.linears().map((l) => l.kernel.dataSync().slice());
    base.dispose();
    const moved = kernels[0]!.some((k, i) => k.some((v, j) => Math.abs(v - original[i]![j]!) > 1e-5));
    expect(moved).toBe(true);
  });

  it('lists a complete but uncommitted upload in Welcome.resume_uploads; the commit needs no chunk again', async () => {
    started = await startCoordinator(
      { run: { rounds: 1 }, strategy: { name: 'fedavg', sampling: { minClients: 1 } } },
      { socket: false },
    );
    const { coordinator, method } = started;
    coordinator.start();
    // The coordinator's own signature is what any correctly derived client sends.
    const signature = method.signature;
    const sig = encodeHostTensor('signature', { shape: [signature.length], data: signature });
    const joinBody = (session?: { id: string; token: string }) => ({
      clientName: 'raw',
      authToken: TOKEN,
      capabilities: { backend: 'cpu', supportedMethods: ['pica'] },
      signatures: [{ method: 'pica', value: { spec: sig.spec, data: sig.bytes } }],
      resumeSessionId: session?.id ?? '',
      resumeSessionToken: session?.token ?? '',
    });
    const connect = () => {
      const peer = new Peer({
        side: 'client',
        link: connectInProcess(coordinator, 'raw'),
        inbox: new TransferInbox(),
      });
      const instructions: Array<MessageBody<'roundInstruction'>> = [];
      peer.onMessage((f) => {
        if (f.message.kind === 'roundInstruction') instructions.push(f.message.body);
      });
      return { peer, instructions };
    };
    const first = connect();
    const w1 = (await first.peer.request({ kind: 'join', body: joinBody() })).message
      .body as MessageBody<'welcome'>;
    await waitFor(() => first.instructions.length > 0, 5_000, 'the round instruction');
    const ins = first.instructions[0]!;
    const update = new Map(
      [...coordinator.globalState()].map(([n, t]) => [
        n,
        { shape: t.shape, data: t.data.map((v) => v + 0.01) },
      ]),
    );
    const transfer = OutgoingTransfer.fromHostTensors('up-r1-1', update, { chunkBytes: 1024 });
    await first.peer.sendTransfer(transfer, { announce: true });
    first.peer.close('test: crash before the commit');
    const second = connect();
    const w2 = (
      await second.peer.request({
        kind: 'join',
        body: joinBody({ id: w1.sessionId, token: w1.sessionToken }),
      })
    ).message.body as MessageBody<'welcome'>;
    expect(w2.resumed).toBe(true);
    expect(w2.resumeUploads).toEqual([
      expect.objectContaining({
        transferId: 'up-r1-1',
        complete: true,
        contiguousCount: transfer.chunkCount,
      }),
    ]);
    const sentBefore = second.peer.bytesSent;
    const receipt = await second.peer.request({
      kind: 'updateCommit',
      body: { roundId: ins.roundId, transferId: 'up-r1-1', numExamples: 3 },
    });
    expect(receipt.message.kind).toBe('updateReceipt');
    expect(second.peer.bytesSent - sentBefore).toBeLessThan(200); // the commit only, no chunk
    await coordinator.whenFinished();
    expect(maxAbsDiff(coordinator.globalState(), update)).toBeLessThan(1e-7);
    second.peer.close('done');
  });
});
