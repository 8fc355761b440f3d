/**
 * Catch-up at the runtime level: a scripted coordinator (a real server-side `Peer` over the in-memory link
 * pair the in-process transport uses) tells a fresh client that round 1 needs 3 folds. The client must ask
 * for exactly [0, 3), download each fold by its transfer id, fold them in order, and train from the last
 * fold's reset; a reply that lacks a fold fails the round with FOLD_HISTORY_INCOMPLETE and leaves the base
 * unfolded.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../shared/tensor/rng.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import { createLinkPair } from '../../shared/wire/in-memory-link.ts';
import { TaskKind, type Frame, type MessageBody } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { TransferInbox } from '../../shared/wire/transfer-inbox.ts';
import { ClientRuntime } from '../runtime.ts';
import { MemoryStateStore } from '../memory-state-store.ts';
import { LocalLmData } from '../local-lm-data.ts';
import { ClientTrainer, runContextLength, type ClientRunConfig } from '../trainer.ts';
import type { CommittedUpdate } from './types.ts';

const RUN: ClientRunConfig = { model: 'test-gpt', method: 'cola', methodConfig: { r: 2 }, seed: 5 };
const FOLDS = 3;

function trainer(run: ClientRunConfig): Promise<ClientTrainer> {
  const words = ['fold', 'link', 'base', 'round', 'client', 'adapter'];
  const rng = new Rng(3);
  const docs = Array.from({ length: 6 }, (_, i) => ({
    id: `d${i}`,
    text: Array.from({ length: 90 }, () => words[rng.int(words.length)]).join(' '),
    attributes: {},
  }));
  return ClientTrainer.create({
    run,
    data: LocalLmData.fromDocuments(docs, run.seed, 'c', {
      contextLength: runContextLength(run),
      maxEvalWindows: 2,
    }),
  });
}

function seededLike(shapes: Map<string, number[]>, seed: number): HostTensorMap {
  const rng = new Rng(seed);
  return new Map(
    [...shapes].map(([name, shape]) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return [name, { shape, data: Float32Array.from(rng.fork(name).normalArray(size, 0.05)) }];
    }),
  );
}

interface Script {
  /** Folds the coordinator lists in its reply (all of them, or one left out). */
  listed: (from: number, to: number) => number[];
}

async function runAgainstScript(script: Script) {
  const reference = await trainer(RUN);
  const shapes = reference.sharedShapes();
  const foldValues = Array.from({ length: FOLDS }, (_, i) => seededLike(shapes, 100 + i));
  const transfers = foldValues.map((v, i) =>
    OutgoingTransfer.fromHostTensors(`fold-${i}`, v, { chunkBytes: 512 }),
  );
  const requests: Array<{ fromIndex: number; toIndex: number }> = [];
  const downloads: string[] = [];
  const logs: Array<{ event: string; fields?: Record<string, unknown> }> = [];
  const commits: CommittedUpdate[] = [];
  const joins: Array<MessageBody<'join'>['capabilities']> = [];
  const { a, b } = createLinkPair({ a: 'client', b: 'coordinator' });
  const server = new Peer({ side: 'coordinator', link: b, inbox: new TransferInbox() });
  const byId = new Map(transfers.map((t) => [t.manifest.transferId, t]));
  server.onMessage((frame: Frame) => {
    const m = frame.message;
    switch (m.kind) {
      case 'join':
        joins.push(m.body.capabilities);
        server.send(
          {
            kind: 'welcome',
            body: {
              sessionId: 's1',
              sessionToken: 't1',
              run: {
                runId: 'run-1',
                method: RUN.method,
                methodConfigJson: JSON.stringify(RUN.methodConfig),
                model: RUN.model,
                modelConfigJson: '{}',
                seed: RUN.seed,
              },
              limits: { chunkBytes: 512, maxInFlightChunks: 4, heartbeatIntervalMs: 0 },
            },
          },
          { inReplyTo: frame.requestId },
        );
        // Round 1 of link 3: the round's global is fold 2 (the final global of link 2), as at a link change.
        server.send({
          kind: 'roundInstruction',
          body: {
            roundId: 1,
            task: TaskKind.TRAIN,
            deadlineMs: 60_000,
            localSteps: 1,
            batchSize: 2,
            learningRate: 0.01,
            linkIndex: FOLDS,
            foldCount: FOLDS,
            globalState: transfers[FOLDS - 1]!.manifest,
          },
        });
        return;
      case 'foldRequest': {
        requests.push({ ...m.body });
        const folds = script
          .listed(m.body.fromIndex, m.body.toIndex)
          .map((i) => ({ index: i, linkIndex: i, state: transfers[i]!.manifest }));
        server.send({ kind: 'foldHistory', body: { folds } }, { inReplyTo: frame.requestId });
        return;
      }
      case 'chunkAck': {
        const t = byId.get(m.body.transferId);
        if (!t || m.body.complete) return;
        downloads.push(m.body.transferId);
        void server.sendTransfer(t, { announce: false, resumeFrom: m.body }).catch(() => undefined);
        return;
      }
      case 'updateCommit':
        server.send(
          { kind: 'updateReceipt', body: { roundId: 1, transferId: m.body.transferId } },
          { inReplyTo: frame.requestId },
        );
        server.send({ kind: 'goodbye', body: { reason: 'done', runComplete: true } });
        return;
      case 'metrics':
        return;
      default:
        return;
    }
  });
  const runtime = new ClientRuntime({
    connector: { label: 'scripted', connect: () => Promise.resolve(a) },
    authToken: 'token',
    clientName: 'late-client',
    store: new MemoryStateStore(),
    run: RUN,
    createTrainer: trainer,
    maxConnectAttempts: 1,
    traits: { deviceClass: 'laptop', batteryLevel: 0.5, charging: true, unmeteredNetwork: true },
    logger: {
      log: (_level, event, fields) => {
        logs.push({ event, ...(fields ? { fields } : {}) });
        // A failed round ends this script: nothing else will come.
        if (event === 'round-failed') runtime.stop('test: round failed');
      },
    },
    onRoundCommitted: (_round, c) => commits.push(c),
  });
  const outcome = await runtime.run();
  return { joins, reference, foldValues, requests, downloads, logs, commits, runtime, outcome };
}

describe('fold catch-up against a scripted coordinator', () => {
  it('requests exactly the missing range, downloads every fold, folds in order, trains from the reset', async () => {
    const r = await runAgainstScript({
      listed: (from, to) => Array.from({ length: to - from }, (_, i) => from + i),
    });
    try {
      expect(r.requests).toEqual([{ fromIndex: 0, toIndex: FOLDS }]);
      expect(new Set(r.downloads)).toEqual(new Set(['fold-0', 'fold-1', 'fold-2']));
      const live = r.runtime.currentTrainer!;
      expect(live.foldCount).toBe(FOLDS);
      for (const fold of r.foldValues) r.reference.applyFold(fold);
      const kernels = (t: ClientTrainer) => t.model.linears().map((l) => l.kernel.dataSync().slice());
      expect(kernels(live)).toEqual(kernels(r.reference));
      // Trained from the link's reset (fold 2 already in the base), not from fold 2 again.
      expect(r.commits).toHaveLength(1);
      const start = r.commits[0]!.update!.start;
      for (const [name, h] of await r.reference.sharedValues()) expect(start.get(name)!.data).toEqual(h.data);
      expect(r.outcome.committedRounds).toEqual([1]);
      // The eligibility traits travel in the Join.
      expect(r.joins[0]).toMatchObject({
        deviceClass: 'laptop',
        batteryLevel: 0.5,
        charging: true,
        unmeteredNetwork: true,
      });
    } finally {
      r.reference.dispose();
      r.runtime.dispose();
    }
  });

  it('fails the round with FOLD_HISTORY_INCOMPLETE when the reply lacks a fold, and folds nothing', async () => {
    const r = await runAgainstScript({
      listed: (from, to) => Array.from({ length: to - from }, (_, i) => from + i).filter((i) => i !== 1),
    });
    try {
      const failed = r.logs.find((l) => l.event === 'round-failed');
      expect(failed?.fields?.code).toBe('FOLD_HISTORY_INCOMPLETE');
      expect(r.runtime.currentTrainer!.foldCount).toBe(0);
      expect(r.commits).toHaveLength(0);
    } finally {
      r.reference.dispose();
      r.runtime.dispose();
    }
  });
});
