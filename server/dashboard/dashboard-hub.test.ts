/**
 * The dashboard hub on a real HTTP + socket.io server on loopback with a fake coordinator: access rules for
 * the page and the namespace, history on connect (including a resumed run's metrics.jsonl), live rounds and
 * status. The end-to-end test with a real coordinator and Chromium is test/e2e/dashboard.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { CoordinatorStatus } from '../coordinator.ts';
import { MemoryLogger } from '../logger.ts';
import type { RoundSummary } from '../metrics-log.ts';
import type { DashboardConfigInput } from './dashboard-config.ts';
import { mountDashboard, type DashboardSource, type MountedDashboard } from './dashboard-hub.ts';
import type { DashboardRound, DashboardSnapshot, DashboardStatus } from './page/protocol.ts';
import { fakeRound } from './test-fixtures.ts';

const TOKEN = 'dashboard-token-0123456789';

class FakeCoordinator implements DashboardSource {
  completed = 0;
  private readonly listeners: Array<(s: RoundSummary) => void> = [];
  constructor(readonly runDir: string) {}
  status(): CoordinatorStatus {
    return {
      runId: 'fake-run',
      phase: 'training',
      method: 'pica',
      model: 'test-gpt',
      completedRounds: this.completed,
      totalRounds: 5,
      clients: { connected: 3, sessions: 4 },
      activeRound: { id: this.completed + 1, sampled: 3, committed: 1, dropped: 0, deadlineInMs: 1000 },
      lastRound: null,
      storage: { ok: true, failure: null },
    };
  }
  onRound(listener: (s: RoundSummary) => void): void {
    this.listeners.push(listener);
  }
  closeRound(summary: RoundSummary): void {
    this.completed = summary.round;
    for (const l of this.listeners) l(summary);
  }
}

interface Rig {
  url: string;
  fake: FakeCoordinator;
  dashboard: MountedDashboard;
  logger: MemoryLogger;
  close(): Promise<void>;
}

let rig: Rig | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await rig?.close();
  rig = undefined;
});

async function startRig(config: DashboardConfigInput, metricsLines: DashboardRound[] = []): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'fedpeft-dash-hub-'));
  if (metricsLines.length)
    await writeFile(join(dir, 'metrics.jsonl'), metricsLines.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const fake = new FakeCoordinator(dir);
  const logger = new MemoryLogger();
  const http: HttpServer = createServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false });
  const dashboard = mountDashboard(fake, io, config, logger);
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void dashboard.handleHttp(req, res).then((handled) => {
      if (!handled && !req.url?.startsWith('/socket.io')) {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    fake,
    dashboard,
    logger,
    async close() {
      dashboard.close();
      await new Promise<void>((resolve) => void io.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function connect(url: string, token?: string): Socket {
  const socket = connectClient(`${url}/dashboard`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(token ? { auth: { token } } : {}),
  });
  sockets.push(socket);
  return socket;
}

function next<T>(socket: Socket, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    socket.once(event, (value: T) => resolve(value));
    socket.once('connect_error', (err: Error) => reject(err));
  });
}

describe('dashboard hub', () => {
  it('serves the page to loopback with a strict CSP; 404s other paths', async () => {
    rig = await startRig({});
    const res = await fetch(`${rig.url}/`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<title>fedpeft dashboard</title>');
    expect(html).not.toContain('/*SCRIPT*/');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("default-src 'none'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect((await fetch(`${rig.url}/other`)).status).toBe(404);
    expect((await fetch(`${rig.url}/`, { method: 'POST' })).status).toBe(405);
  });

  it('without loopback exemption: page and namespace need the token', async () => {
    rig = await startRig({ token: TOKEN, allowLoopbackWithoutToken: false });
    const refused = await fetch(`${rig.url}/`);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toMatch(/needs its token/);
    expect((await fetch(`${rig.url}/?token=wrong-token-0123456789`)).status).toBe(401);
    expect((await fetch(`${rig.url}/?token=${TOKEN}`)).status).toBe(200);
    expect((await fetch(`${rig.url}/`, { headers: { 'x-fedpeft-dashboard-token': TOKEN } })).status).toBe(
      200,
    );
    await expect(next(connect(rig.url), 'snapshot')).rejects.toThrow(/needs its token/);
    await expect(next(connect(rig.url, 'wrong-token-0123456789'), 'snapshot')).rejects.toThrow(
      /does not match/,
    );
    const snapshot = await next<DashboardSnapshot>(connect(rig.url, TOKEN), 'snapshot');
    expect(snapshot.status.runId).toBe('fake-run');
    expect(rig.logger.records.filter((r) => r.event === 'dashboard-refused').length).toBeGreaterThanOrEqual(
      4,
    );
  });

  it("sends the history on connect (with a resumed run's metrics.jsonl), then rounds and status live", async () => {
    rig = await startRig({ statusIntervalMs: 100 }, [fakeRound(1), fakeRound(2)]);
    await rig.dashboard.ready;
    const { t: _t, ...round3 } = fakeRound(3, { strategy: { dpEpsilon: 0.5, dpDelta: 1e-5 } });
    rig.fake.closeRound(round3);
    const socket = connect(rig.url);
    const snapshot = await next<DashboardSnapshot>(socket, 'snapshot');
    expect(snapshot.history.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(snapshot.history[2]!.strategy.dpEpsilon).toBe(0.5);
    expect(snapshot.status.completedRounds).toBe(3);
    expect(snapshot.status).not.toHaveProperty('lastRound');
    const live = next<DashboardRound>(socket, 'round');
    const { t: _t4, ...round4 } = fakeRound(4);
    rig.fake.closeRound(round4);
    const got = await live;
    expect(got.round).toBe(4);
    expect(Date.parse(got.t)).toBeGreaterThan(0);
    const status = await next<DashboardStatus>(socket, 'status');
    expect(status.completedRounds).toBe(4);
    expect(rig.dashboard.history.list().map((r) => r.round)).toEqual([1, 2, 3, 4]);
  });

  it('enabled: false serves nothing at / and opens no namespace', async () => {
    rig = await startRig({ enabled: false });
    expect((await fetch(`${rig.url}/`)).status).toBe(404);
    await expect(next(connect(rig.url), 'snapshot')).rejects.toThrow(/Invalid namespace/);
  });
});
