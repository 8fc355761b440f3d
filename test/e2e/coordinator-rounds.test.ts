/**
 * Coordinator end to end over real socket.io on loopback, with synthetic null-trainer clients: rounds complete
 * and each aggregate equals the offline weighted mean; a recorder of every frame proves only the method's
 * declared shared tensors cross the wire (in-process transport, same protocol objects).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tf } from '../../shared/tensor/tf.ts';
import { decodeFrame, type Sender } from '../../shared/wire/messages.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';
import { connectInProcess } from '../../server/transport/in-process.ts';
import { expectedMean, NullClient } from './null-client.ts';
import { maxAbsDiff, startCoordinator, TOKEN, waitFor, type Started } from './coordinator-fixture.ts';

let started: Started | undefined;
const clients: NullClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  await started?.close();
  started = undefined;
});

describe('coordinator rounds', () => {
  it('runs rounds over socket.io and each aggregate equals the offline weighted mean', async () => {
    started = await startCoordinator({
      run: { rounds: 2 },
      strategy: { name: 'fedavg', sampling: { minClients: 3 } },
    });
    const { coordinator, method, url } = started;
    const summaries: number[] = [];
    coordinator.onRound((s) => summaries.push(s.participants));
    for (let i = 0; i < 3; i++) {
      const c = new NullClient({
        name: `c${i}`,
        index: i,
        token: TOKEN,
        method: 'pica',
        signature: method.signature,
        url,
      });
      clients.push(c);
      await c.connect();
    }
    const tensorsBefore = tf.memory().numTensors;
    coordinator.start();
    await coordinator.whenFinished();
    expect(summaries).toEqual([3, 3]);
    // Offline: round 1 from the initial (zero) B, round 2 from round 1's mean.
    const all = [0, 1, 2].map((index) => ({ index, weight: index + 1 }));
    const r1 = expectedMean(method.initialShared, 1, all);
    const r2 = expectedMean(r1, 2, all);
    expect(maxAbsDiff(coordinator.globalState(), r2)).toBeLessThan(1e-6);
    // What the clients downloaded for round 2 is exactly round 1's aggregate.
    expect(maxAbsDiff(clients[0]!.globals.get(2)!, r1)).toBeLessThan(1e-6);
    // Not a tautology: the aggregate moved away from the initial state.
    expect(maxAbsDiff(coordinator.globalState(), method.initialShared)).toBeGreaterThan(1e-3);
    // The coordinator does no tfjs work per round.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const lines = (await readFile(join(started.dir, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.round, l.participants, l.dropped])).toEqual([
      [1, 3, 0],
      [2, 3, 0],
    ]);
    expect(lines[0].trainLoss).toBeCloseTo(2, 6); // mean of 1, 2, 3
    expect(lines[0].bytesUp).toBeGreaterThan(0);
    expect(lines[0].bytesDown).toBeGreaterThan(0);
    const status = coordinator.status();
    expect(status.phase).toBe('finished');
    expect(status.completedRounds).toBe(2);
  });

  it('records every frame of an in-process run: only declared shared tensors ever cross the wire', async () => {
    started = await startCoordinator(
      { run: { rounds: 2 }, strategy: { name: 'fedavg', sampling: { minClients: 2 } } },
      { socket: false },
    );
    const { coordinator, method } = started;
    const frames: Array<{ from: Sender; bytes: Uint8Array }> = [];
    const recording = (link: FrameLink): FrameLink => {
      const send = link.send.bind(link);
      link.send = (bytes) => {
        frames.push({ from: 'client', bytes: bytes.slice() });
        send(bytes);
      };
      link.onFrame((bytes) =>
        frames.push({ from: 'coordinator', bytes: new Uint8Array(bytes as Uint8Array).slice() }),
      );
      return link;
    };
    for (let i = 0; i < 2; i++) {
      const c = new NullClient({
        name: `p${i}`,
        index: i,
        token: TOKEN,
        method: 'pica',
        signature: method.signature,
        connectLink: () => recording(connectInProcess(coordinator, `p${i}`)),
      });
      clients.push(c);
      await c.connect();
    }
    coordinator.start();
    await coordinator.whenFinished();
    const shared = new Set(method.shapes.keys());
    const transfers = new Set<string>();
    let tensorFrames = 0;
    for (const f of frames) {
      const { message } = decodeFrame(f.bytes, { from: f.from });
      const manifests =
        message.kind === 'transferManifest'
          ? [message.body]
          : message.kind === 'roundInstruction'
            ? [message.body.globalState]
            : message.kind === 'globalState'
              ? [message.body.state]
              : [];
      for (const m of manifests) {
        transfers.add(m.transferId);
        for (const spec of m.tensors)
          expect(shared.has(spec.name), `tensor ${spec.name} on the wire`).toBe(true);
        expect(m.tensors.length).toBe(shared.size);
      }
      if (message.kind === 'tensorChunk') {
        tensorFrames++;
        expect(transfers.has(message.body.transferId)).toBe(true);
      }
    }
    expect(tensorFrames).toBeGreaterThan(4);
    // The method does have non-shared state (PiCa's U_l projectors) — they exist, they just never travel.
    expect([...shared].every((n) => !/\bU\b|proj/i.test(n))).toBe(true);
  });

  it('serves GET /status on loopback and revokes a join token through the admin call, ending its session', async () => {
    started = await startCoordinator({
      run: { rounds: 1 },
      strategy: { name: 'fedavg', sampling: { minClients: 2 } },
    });
    const c = new NullClient({
      name: 'r0',
      index: 0,
      token: TOKEN,
      method: 'pica',
      signature: started.method.signature,
      url: started.url,
      reconnect: false,
    });
    clients.push(c);
    await c.connect();
    const status = (await (await fetch(`${started.url}/status`)).json()) as {
      phase: string;
      clients: { connected: number };
    };
    expect(status).toMatchObject({ phase: 'waiting-for-clients', clients: { connected: 1 } });
    const revoke = (auth?: string) =>
      fetch(`${started!.url}/admin/tokens/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: JSON.stringify({ token: TOKEN }),
      });
    expect((await revoke()).status).toBe(401);
    expect(await (await revoke('admin-token-0123456789')).json()).toEqual({ revoked: true });
    await waitFor(() => c.peer?.isOpen === false, 5_000, 'the revoked session to end');
    expect(started.coordinator.status().clients.sessions).toBe(0);
    const again = new NullClient({
      name: 'r1',
      index: 1,
      token: TOKEN,
      method: 'pica',
      signature: started.method.signature,
      url: started.url,
      reconnect: false,
    });
    clients.push(again);
    await expect(again.connect()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
