/**
 * The live dashboard of a `fedpeft simulate` run: the same page and `/dashboard` namespace a coordinator
 * serves (server/dashboard/), on its own loopback HTTP server, fed from the run recorder instead of a
 * coordinator. A simulation runs every round as a separate coordinator segment (simulations/runner/), so no
 * single coordinator lives as long as the run; the recorder does, and it sees every round.
 *
 * In a comparison each method's run replaces the previous one on the page (`showRun`). When a run is over its
 * per-client results (clients.json) go to the page's per-client table. The server stays up until `close()`:
 * the CLI keeps it open after the last run until the user stops it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import type { CoordinatorStatus } from '../../server/coordinator.ts';
import type { DashboardConfigInput } from '../../server/dashboard/dashboard-config.ts';
import { mountDashboard, type MountedDashboard } from '../../server/dashboard/dashboard-hub.ts';
import type { DashboardClient } from '../../server/dashboard/page/protocol.ts';
import type { Logger } from '../../server/logger.ts';
import type { RoundSummary } from '../../server/metrics-log.ts';
import type { ClientResult, RoundMetrics, Task } from '../report/run-records.ts';

export interface RunDashboardOptions {
  /** Default 127.0.0.1: only this machine can open the page (no token needed from loopback). */
  host?: string;
  /** 0 (default): any free port; the URL says which. */
  port?: number;
  logger?: Logger;
  dashboard?: DashboardConfigInput;
}

export interface ShownRun {
  runId: string;
  method: string;
  model: string;
  totalRounds: number;
}

/** A recorded round as the dashboard's round summary (the coordinator's shape, which the page reads). */
export function roundSummaryOf(m: RoundMetrics): RoundSummary {
  return {
    round: m.round,
    sampled: m.participants,
    participants: m.completed,
    dropped: m.dropped,
    aggregated: m.completed > 0,
    linkIndex: 0,
    trainLoss: m.train_loss,
    globalValLoss: m.global_val_loss,
    personalValLoss: m.personal_val_loss,
    bytesUp: m.bytes_up,
    bytesDown: m.bytes_down,
    roundMs: m.round_s * 1000,
    strategy:
      m.epsilon !== null && m.epsilon !== undefined
        ? { dpEpsilon: m.epsilon, ...(m.delta !== null && m.delta !== undefined ? { dpDelta: m.delta } : {}) }
        : {},
  };
}

/** clients.json rows as the page's per-client table. */
export function dashboardClientsOf(task: Task, clients: readonly ClientResult[]): DashboardClient[] {
  const classify = task === 'classification';
  return clients.map((c) => ({
    name: c.client_id,
    device: c.device_class ?? 'default',
    roundsParticipated: c.rounds_participated,
    metric: classify ? 'accuracy' : 'perplexity',
    base: classify ? c.base_accuracy : c.base_ppl,
    global: classify ? c.global_accuracy : c.global_ppl,
    personal: classify ? c.personal_accuracy : c.personal_ppl,
  }));
}

const quietLogger: Logger = { log: () => undefined };

export class RunDashboard {
  private run: ShownRun | null = null;
  private phase: CoordinatorStatus['phase'] = 'waiting-for-clients';
  private completed = 0;
  private lastParticipants = 0;
  /** Clients of the federation, known once the run's results are in (the page's "known sessions"). */
  private clientCount = 0;
  private readonly roundListeners: Array<(s: RoundSummary) => void> = [];
  private closing: Promise<void> | undefined;

  private constructor(
    readonly url: string,
    private readonly hub: () => MountedDashboard,
    private readonly stopServer: () => Promise<void>,
  ) {}

  static async start(options: RunDashboardOptions = {}): Promise<RunDashboard> {
    const host = options.host ?? '127.0.0.1';
    // Mounted once the server exists; requests before that (none can arrive yet) get a 404.
    const slot: { hub?: MountedDashboard } = {};
    const http = createServer((req: IncomingMessage, res: ServerResponse) => {
      void (async () => {
        if (slot.hub && (await slot.hub.handleHttp(req, res))) return;
        if (!(req.url ?? '').startsWith('/socket.io')) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('not found\n');
        }
      })().catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    const io = new Server(http, { transports: ['websocket'], serveClient: false });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 0, host, () => resolve());
    });
    const port = (http.address() as AddressInfo).port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const dashboard: RunDashboard = new RunDashboard(
      url,
      () => slot.hub!,
      () =>
        new Promise<void>((resolve) => {
          slot.hub?.close();
          void io.close(() => resolve());
          // Open pages keep sockets that would hold close() for minutes.
          http.closeAllConnections();
        }),
    );
    slot.hub = mountDashboard(
      {
        // No metrics file to replay: the recorder announces every round live.
        runDir: null,
        status: () => dashboard.status(),
        onRound: (listener) => dashboard.roundListeners.push(listener),
      },
      io,
      options.dashboard,
      options.logger ?? quietLogger,
    );
    return dashboard;
  }

  status(): CoordinatorStatus {
    return {
      runId: this.run?.runId ?? '…',
      phase: this.phase,
      method: this.run?.method ?? '…',
      model: this.run?.model ?? '…',
      completedRounds: this.completed,
      totalRounds: this.run?.totalRounds ?? 0,
      clients: { connected: this.lastParticipants, sessions: this.clientCount },
      activeRound: null,
      lastRound: null,
      // The recorder itself writes nothing durable; the simulated coordinator's storage is its own run's.
      storage: { ok: true, failure: null },
    };
  }

  /** Shows a new run (the first, or the next method of a comparison) from its first round. */
  showRun(run: ShownRun): void {
    this.run = run;
    // The run has started (its base is being prepared or its first round is running).
    this.phase = 'training';
    this.completed = 0;
    this.lastParticipants = 0;
    this.clientCount = 0;
    this.hub().reset();
  }

  round(m: RoundMetrics): void {
    this.phase = 'training';
    this.completed = m.round;
    this.lastParticipants = m.participants;
    const summary = roundSummaryOf(m);
    for (const l of this.roundListeners) l(summary);
  }

  /** The run is over: its per-client results go to the page. */
  runFinished(task: Task, clients: readonly ClientResult[]): void {
    this.clientCount = clients.length;
    this.hub().setClients(dashboardClientsOf(task, clients));
  }

  /** Every run is over: the page says so (and stays up until `close()`). */
  allFinished(): void {
    this.phase = 'finished';
  }

  /** Stops the server (once; later calls get the same promise). */
  close(): Promise<void> {
    this.closing ??= this.stopServer();
    return this.closing;
  }
}
