import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { attachAdapter } from '../../shared/adapters/index.ts';
import { createModel } from '../../shared/model/zoo.ts';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { Coordinator } from '../../server/coordinator.ts';
import { MemoryLogger } from '../../server/logger.ts';
import { describeMethod } from '../../server/method-state.ts';
import { startSocketIoServer, type RunningServer } from '../../server/transport/socket-io-server.ts';
import { ClientRuntime, type ClientRunOutcome } from '../../client/runtime.ts';
import { socketIoConnector } from '../../client/connection.ts';
import { MemoryStateStore } from '../../client/memory-state-store.ts';
import { LocalLmData } from '../../client/local-lm-data.ts';
import { ClientTrainer, runContextLength } from '../../client/trainer.ts';
import { createJoinRoute } from '../../web/join-route.ts';
import type { FedpeftWeb } from '../../web/browser-entry.ts';
import type { JoinStatus } from '../../web/join-page.ts';
import { syntheticDocuments } from '../e2e/client-synthetic-data.ts';
import { chromiumSkipReason, launchChromium, type ChromiumSession } from './launch.ts';
import { FrameRecorder, type RecordedCommit } from './frame-recorder.ts';

/**
 * The browser client end to end: a coordinator on loopback serves the join page at `/join`; two headless
 * Chromium tabs join through it (one on the best backend this Chromium offers, WebGPU when it has it; one
 * forced to wasm) next to one Node `ClientRuntime`, and they train PiCa on test-gpt for two rounds. From the
 * frames the coordinator received (recorded on its side, decoded independently) the test checks that every
 * round's aggregate is the weighted mean of the three uploads, and that nothing but the method's shared
 * tensors ever left a client. One tab is reloaded after its first commit: it must resume its session from
 * IndexedDB and contribute to the next round.
 */

const skip = chromiumSkipReason();
if (skip) console.warn(`[browser tests] skipped: ${skip}`);

const TOKEN = 'browser-join-token-0123456789';
const RUN = { model: 'test-gpt', method: 'pica', methodConfig: { r: 4, roles: ['q', 'v'] }, seed: 7 };
const ROUNDS = 2;
const LOCAL_STEPS = 3;

type Api = { fedpeft: FedpeftWeb };

function joinStatus(page: Page): Promise<JoinStatus | null> {
  return page.evaluate(() => (window as unknown as Api).fedpeft?.joinStatus() ?? null);
}

async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() - start > timeoutMs)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(v)?.slice(0, 2000)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

function weightedMean(parts: RecordedCommit[]): HostTensorMap {
  const total = parts.reduce((s, p) => s + p.weight, 0);
  const out: HostTensorMap = new Map();
  for (const [name, t] of parts[0]!.shared!) {
    const acc = new Float64Array(t.data.length);
    for (const p of parts) {
      const d = p.shared!.get(name)!.data;
      for (let i = 0; i < acc.length; i++) acc[i]! += (p.weight * d[i]!) / total;
    }
    out.set(name, { shape: t.shape, data: Float32Array.from(acc) });
  }
  return out;
}

function maxAbsDiff(a: HostTensorMap, b: HostTensorMap): number {
  if (a.size !== b.size) return Infinity;
  let m = 0;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u || u.data.length !== t.data.length) return Infinity;
    for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i]! - u.data[i]!));
  }
  return m;
}

describe.skipIf(skip !== null)(`browser clients join real rounds${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let coordinator: Coordinator;
  let server: RunningServer;
  let browser: ChromiumSession;
  const recorder = new FrameRecorder();
  const globals = new Map<number, HostTensorMap>();
  const pageErrors: string[] = [];
  let names: { shared: string[]; derived: string[]; private: string[] };
  /** Bytes of one float32 update (all shared tensors). */
  let updateBytes: number;
  let nodeOutcome: ClientRunOutcome;
  let tensorsBeforeNodeClient: number;
  let tensorsAfterNodeClient: number;
  let statusA: JoinStatus;
  let statusB: JoinStatus;
  let beforeReload: JoinStatus;
  let pageA: Page;

  beforeAll(async () => {
    await useBackend('wasm');
    // The method's tensor names, from the same adapter in Node: what may (shared) and may not cross the wire.
    const model = createModel(RUN.model, { seed: RUN.seed });
    const adapter = attachAdapter(model, RUN.method, RUN.methodConfig, { seed: RUN.seed });
    names = {
      shared: [...adapter.shared().keys()],
      derived: [...adapter.derived().keys()],
      private: [...adapter.private().keys()],
    };
    updateBytes = [...adapter.shared().values()].reduce((n, t) => n + t.size * 4, 0);
    adapter.detach();
    model.dispose();

    dir = await mkdtemp(join(tmpdir(), 'fedpeft-browser-join-'));
    const config = parseCoordinatorConfig({
      run: { seed: RUN.seed, rounds: ROUNDS },
      model: { name: RUN.model },
      method: { name: RUN.method, config: RUN.methodConfig },
      strategy: { name: 'fedavg', sampling: { minClients: 3 } },
      // Software WebGPU takes ~1 s a step: generous deadlines; a reloading tab must not be dropped.
      round: {
        localSteps: LOCAL_STEPS,
        batchSize: 2,
        learningRate: 1e-2,
        deadlineMs: 120_000,
        dropAfterMs: 60_000,
      },
      transport: { port: 0, chunkBytes: 256, heartbeatIntervalMs: 1_000 },
      auth: { tokens: [TOKEN] },
    });
    const method = describeMethod({
      model: config.model.name,
      modelConfig: config.model.config,
      method: config.method.name,
      methodConfig: config.method.config,
      seed: config.run.seed,
    });
    coordinator = await Coordinator.create({
      config,
      method,
      runId: 'browser-run',
      runDir: dir,
      logger: new MemoryLogger(),
      resume: false,
    });
    const accept = coordinator.accept.bind(coordinator);
    coordinator.accept = (link) => accept(recorder.wrap(link));
    coordinator.onRound((s) =>
      globals.set(
        s.round,
        new Map(
          [...coordinator.globalState()].map(([n, t]) => [n, { shape: [...t.shape], data: t.data.slice() }]),
        ),
      ),
    );
    const route = await createJoinRoute({
      run: { ...RUN, modelConfig: {} },
      verifyToken: (t) => t === TOKEN,
    });
    server = await startSocketIoServer(coordinator, {
      host: '127.0.0.1',
      port: 0,
      adminToken: 'admin-token-0123456789',
      logger: new MemoryLogger(),
      dashboard: { enabled: false },
      routes: [route],
    });
    browser = await launchChromium({ webgpu: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop('test over');
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function openJoinPage(query: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}/join/?token=${TOKEN}&${query}`);
    await page.waitForFunction(() => (window as unknown as Api).fedpeft?.joinStatus() !== null);
    return page;
  }

  it('two Chromium tabs and a Node client complete PiCa rounds; every aggregate is the weighted mean of the uploads', async () => {
    coordinator.start();
    // Tab A: the best backend Chromium offers, a text file the person picks.
    pageA = await openJoinPage('name=tab-a');
    const fileText = syntheticDocuments(41, 10)
      .map((d) => d.text)
      .join('\n\n');
    await pageA.setInputFiles('#file', {
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(fileText),
    });
    await pageA.click('#join');
    // Tab B: wasm, the sample text shipped with the page.
    const pageB = await openJoinPage('name=tab-b&backend=wasm');
    await pageB.click('#use-sample');
    await pageB.click('#join');
    // The Node client, in this process.
    tensorsBeforeNodeClient = tf.memory().numTensors;
    const runtime = new ClientRuntime({
      connector: socketIoConnector(server.url),
      authToken: TOKEN,
      clientName: 'node-client',
      store: new MemoryStateStore(),
      run: RUN,
      createTrainer: (run) =>
        ClientTrainer.create({
          run,
          data: LocalLmData.fromDocuments(syntheticDocuments(31), run.seed, 'node', {
            contextLength: runContextLength(run),
          }),
          label: 'node-client',
        }),
    });
    const nodeRun = runtime.run();

    // Reload tab A once its first update is committed: the run is mid-way (round 2 still to come).
    beforeReload = await until(
      'tab A to commit round 1',
      () => joinStatus(pageA).then((s) => s!),
      (s) => s.committedRounds.includes(1) || s.state === 'failed',
      90_000,
    );
    expect(beforeReload.error).toBeNull();
    await pageA.reload();
    await pageA.waitForFunction(() => (window as unknown as Api).fedpeft?.joinStatus() !== null);

    nodeOutcome = await nodeRun;
    runtime.dispose();
    tensorsAfterNodeClient = tf.memory().numTensors;
    const finished = (s: JoinStatus | null) =>
      s !== null && ['complete', 'stopped', 'failed'].includes(s.state);
    statusA = (await until('tab A to finish', () => joinStatus(pageA), finished, 90_000))!;
    statusB = (await until('tab B to finish', () => joinStatus(pageB), finished, 90_000))!;
    console.info(
      `[browser join] tab A on ${beforeReload.backend?.chosen}, tab B on ${statusB.backend?.chosen}; ` +
        `losses A ${beforeReload.losses.map((l) => l.loss.toFixed(3)).join(' ')} | B ${statusB.losses.map((l) => l.loss.toFixed(3)).join(' ')}; ` +
        `bytes sent A ${beforeReload.bytesSent}+${statusA.bytesSent}, B ${statusB.bytesSent}`,
    );

    expect(pageErrors).toEqual([]);
    expect(recorder.undecodable).toEqual([]);
    expect(nodeOutcome.runComplete).toBe(true);
    expect(statusA.error).toBeNull();
    expect(statusB.error).toBeNull();
    expect([statusA.state, statusB.state]).toEqual(['complete', 'complete']);
    expect(coordinator.completedRounds).toBe(ROUNDS);
    expect(statusB.backend?.chosen).toBe('wasm');
    for (const s of [beforeReload, statusB]) {
      expect(s.losses.filter((l) => l.round === 1)).toHaveLength(LOCAL_STEPS);
      expect(s.losses.every((l) => Number.isFinite(l.loss))).toBe(true);
      expect(s.bytesSent).toBeGreaterThan(0);
    }
    expect(statusB.committedRounds).toEqual([1, 2]);
    expect(statusB.updateBytesSent).toBe(ROUNDS * updateBytes);

    for (let round = 1; round <= ROUNDS; round++) {
      // The last commit per client (a commit retried after a reconnect is the same update).
      const byClient = new Map(recorder.commits.filter((c) => c.roundId === round).map((c) => [c.client, c]));
      expect([...byClient.keys()].sort()).toEqual(['node-client', 'tab-a', 'tab-b']);
      const parts = [...byClient.values()];
      expect(parts.every((p) => p.shared !== null)).toBe(true);
      // Different amounts of text: a weighted mean, not a plain one.
      expect(new Set(parts.map((p) => p.weight)).size).toBe(3);
      expect(maxAbsDiff(globals.get(round)!, weightedMean(parts))).toBeLessThan(1e-6);
      // Not a tautology: the three updates differ from each other.
      expect(maxAbsDiff(byClient.get('tab-a')!.shared!, byClient.get('tab-b')!.shared!)).toBeGreaterThan(
        1e-4,
      );
      expect(
        maxAbsDiff(byClient.get('tab-a')!.shared!, byClient.get('node-client')!.shared!),
      ).toBeGreaterThan(1e-4);
    }
    // The Node client's trainer freed everything it held.
    expect(tensorsAfterNodeClient).toBe(tensorsBeforeNodeClient);
  }, 240_000);

  it('only the shared tensors crossed the wire; the private state stayed in IndexedDB', async () => {
    expect(names.derived.length).toBeGreaterThan(0);
    const allowed = new Set([...names.shared, 'signature']);
    const seen = new Set(recorder.tensorNames.map((t) => t.name));
    expect([...seen].filter((n) => !allowed.has(n))).toEqual([]);
    for (const n of [...names.derived, ...names.private]) expect(seen.has(n), n).toBe(false);
    // Every upload carried exactly the shared tensors, and no more bytes than they hold.
    const uploads = recorder.manifests.filter((m) => m.client.startsWith('tab-'));
    expect(uploads.length).toBeGreaterThanOrEqual(4);
    for (const { manifest } of uploads) {
      expect(manifest.tensors.map((t) => t.name)).toEqual(names.shared);
      expect(manifest.totalBytes).toBe(
        manifest.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1) * 4, 0),
      );
    }
    // The signature went out in the first Join (the page fetched run.json), not the derived tensors.
    const firstJoins = ['tab-a', 'tab-b'].map((c) => recorder.joins.find((j) => j.client === c)!);
    expect(firstJoins.map((j) => [j.resumeSessionId, j.signatures])).toEqual([
      ['', 1],
      ['', 1],
    ]);
    // What tab A keeps in IndexedDB: its session and the optimizer moments, whose names never went out.
    const stored = await pageA.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const req = indexedDB.open('fedpeft-client:tab-a');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
      });
      const get = (key: string) =>
        new Promise<unknown>((resolve, reject) => {
          const req = db.transaction('records').objectStore('records').get(key);
          req.onsuccess = () => resolve(req.result);
          req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
        });
      const meta = (await get('meta')) as { session: { sessionId: string }; lastCommittedRound: number };
      const optimizer = (await get('tensors/optimizer')) as {
        tensors: Array<{ name: string; data: Float32Array }>;
      };
      db.close();
      return {
        session: meta.session.sessionId,
        lastCommittedRound: meta.lastCommittedRound,
        optimizer: optimizer.tensors.map((t) => [t.name, t.data.length] as const),
      };
    });
    expect(stored.session).toBe(statusA.sessionId);
    expect(stored.lastCommittedRound).toBe(ROUNDS);
    expect(stored.optimizer.some(([n]) => n.startsWith('adamw/m/'))).toBe(true);
    for (const [n] of stored.optimizer) expect(seen.has(n), n).toBe(false);
  });

  it('a tab reloaded mid-run resumes its session from IndexedDB and contributes to the next round', () => {
    expect(beforeReload.sessionId).not.toBeNull();
    expect(beforeReload.committedRounds).toEqual([1]);
    // After the reload: same session, resumed, the round-1 commit remembered, round 2 committed by this page.
    expect(statusA.sessionId).toBe(beforeReload.sessionId);
    expect(statusA.resumed).toBe(true);
    expect(statusA.committedRounds).toEqual([2]);
    expect(statusA.lastCommittedRound).toBe(2);
    expect(statusA.dataLabel).toBe('notes.txt');
    // The coordinator saw tab A ask to resume its session after the reload.
    const joinsA = recorder.joins.filter((j) => j.client === 'tab-a');
    expect(joinsA[0]!.resumeSessionId).toBe('');
    expect(joinsA.at(-1)!.resumeSessionId).toBe(beforeReload.sessionId);
  });
});
