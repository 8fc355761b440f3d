/**
 * Mounts the live dashboard on the coordinator's HTTP + socket.io server: `GET /` serves the page, and the
 * `/dashboard` namespace feeds it (a snapshot with the round history on connect, the status every
 * `statusIntervalMs`, each round as it closes). The namespace is separate from the default one the protocol
 * uses, so a dashboard socket is never handed to the coordinator as a client and never sees protocol frames.
 * Both the page and the namespace go through the same `DashboardAccess` rule.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Namespace } from 'socket.io';
import type { CoordinatorStatus } from '../coordinator.ts';
import type { Logger } from '../logger.ts';
import type { RoundSummary } from '../metrics-log.ts';
import { DashboardAccess, presentedToken, type AccessDecision } from './access.ts';
import { dashboardConfigSchema, type DashboardConfigInput } from './dashboard-config.ts';
import { dashboardPage } from './dashboard-page.ts';
import {
  DASHBOARD_NAMESPACE,
  type DashboardClient,
  type DashboardClientEvents,
  type DashboardServerEvents,
  type DashboardStatus,
} from './page/protocol.ts';
import { RoundHistory } from './round-history.ts';

/** What the dashboard needs from a coordinator. */
export interface DashboardSource {
  /** Where a resumed run's metrics.jsonl is replayed from; null when every round is announced live. */
  readonly runDir: string | null;
  status(): CoordinatorStatus;
  onRound(listener: (summary: RoundSummary) => void): void;
}

export interface MountedDashboard {
  /** Answers `GET /` (true), or leaves the request to other routes (false). */
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** The access rule (the server applies it to `/status` too). */
  decide(req: IncomingMessage): AccessDecision;
  readonly history: RoundHistory;
  /** Resolves once `metrics.jsonl` of a resumed run has been read into the history. */
  readonly ready: Promise<void>;
  /** Publishes per-client results to every open page (and to pages opened later). */
  setClients(clients: DashboardClient[]): void;
  /** Forgets the rounds and clients shown so far and sends open pages a fresh snapshot (the next run). */
  reset(): void;
  close(): void;
}

/** The part of a socket.io `Server` the dashboard uses (any event typing: its namespace has its own). */
export interface NamespaceHost {
  of(name: string): unknown;
}

export function mountDashboard(
  source: DashboardSource,
  io: NamespaceHost,
  configInput: DashboardConfigInput | undefined,
  logger: Logger,
): MountedDashboard {
  const config = dashboardConfigSchema.parse(configInput ?? {});
  const access = new DashboardAccess(config);
  const history = new RoundHistory(config.historyLimit);
  let closed = false;
  let nsp: Namespace<DashboardClientEvents, DashboardServerEvents> | undefined;
  let ticker: NodeJS.Timeout | undefined;
  // The coordinator counts a round as completed a checkpoint write before it announces the round's summary;
  // the page counts rounds it has summaries of (or that were done before the dashboard existed), so its
  // counter and its charts never disagree.
  let completedRounds = source.status().completedRounds;
  let clients: DashboardClient[] = [];
  const statusView = (): DashboardStatus => {
    const { lastRound: _lastRound, ...rest } = source.status();
    return { ...rest, completedRounds: Math.min(rest.completedRounds, completedRounds) };
  };

  const ready = (
    source.runDir === null
      ? Promise.resolve({ skipped: 0 })
      : history.loadMetricsFile(join(source.runDir, 'metrics.jsonl'))
  )
    .then(({ skipped }) => {
      if (skipped > 0) logger.log('warn', 'dashboard-history-skipped', { lines: skipped });
    })
    .catch((err: unknown) =>
      logger.log('warn', 'dashboard-history-unreadable', { message: (err as Error).message }),
    );

  source.onRound((summary) => {
    if (closed) return;
    const round = { t: new Date().toISOString(), ...summary };
    completedRounds = Math.max(completedRounds, summary.round);
    history.add(round);
    nsp?.emit('round', round);
  });

  if (config.enabled) {
    const namespace = io.of(DASHBOARD_NAMESPACE) as Namespace<DashboardClientEvents, DashboardServerEvents>;
    nsp = namespace;
    namespace.use((socket, next) => {
      const auth = socket.handshake.auth as { token?: unknown };
      const token =
        typeof auth.token === 'string' && auth.token.length > 0
          ? auth.token
          : presentedToken(socket.handshake.headers, null);
      const decision = access.decide(socket.handshake.address, token);
      if (decision.ok) next();
      else {
        logger.log('warn', 'dashboard-refused', { peer: socket.handshake.address, reason: decision.reason });
        next(new Error(decision.reason));
      }
    });
    namespace.on('connection', (socket) => {
      void ready.then(() => {
        if (socket.connected)
          socket.emit('snapshot', { status: statusView(), history: history.list(), clients });
      });
      ticker ??= setInterval(() => {
        if (namespace.sockets.size === 0) {
          clearInterval(ticker);
          ticker = undefined;
          return;
        }
        namespace.emit('status', statusView());
      }, config.statusIntervalMs);
      ticker.unref?.();
    });
  }

  return {
    history,
    ready,
    decide: (req) => access.decideRequest(req),
    async handleHttp(req, res) {
      if (!config.enabled) return false;
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/' && url.pathname !== '/index.html') return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' });
        res.end();
        return true;
      }
      const decision = access.decideRequest(req);
      if (!decision.ok) {
        logger.log('warn', 'dashboard-refused', { peer: req.socket.remoteAddress, reason: decision.reason });
        res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`${decision.reason}\n`);
        return true;
      }
      const page = await dashboardPage();
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': page.html.length,
        'content-security-policy': page.contentSecurityPolicy,
        // The token may be in the URL: never send it on as a referrer or keep the page in shared caches.
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : page.html);
      return true;
    },
    setClients(next) {
      clients = next;
      nsp?.emit('clients', next);
    },
    reset() {
      history.clear();
      completedRounds = 0;
      clients = [];
      nsp?.emit('snapshot', { status: statusView(), history: [], clients });
    },
    close() {
      closed = true;
      clearInterval(ticker);
      ticker = undefined;
      nsp?.disconnectSockets(true);
    },
  };
}
