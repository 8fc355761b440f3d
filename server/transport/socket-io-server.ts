/**
 * The coordinator behind socket.io: one HTTP(S) server carrying the websocket transport (binary frames,
 * `maxHttpBufferSize` raised deliberately to the protocol's frame limit — socket.io's 1e6-byte default
 * silently drops larger messages — and no polling, which base64-encodes binary) plus `GET /status` (JSON;
 * from outside loopback only with `Authorization: Bearer <admin token>`) and admin calls to add or revoke join
 * tokens. `bufferutil`, when installed, is picked up by the `ws` engine and speeds up frame masking ~3x.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { FedpeftError } from '../../shared/errors.ts';
import { MAX_FRAME_BYTES } from '../../shared/wire/limits.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/wire/messages.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import type { Coordinator } from '../coordinator.ts';
import type { DashboardConfigInput } from '../dashboard/dashboard-config.ts';
import { mountDashboard } from '../dashboard/dashboard-hub.ts';
import { sameDigest, digest } from '../join-tokens.ts';
import type { Logger } from '../logger.ts';

/** Transport-level frame ceiling as a multiple of MAX_FRAME_BYTES (see `maxHttpBufferSize`). */
const OVERSIZE_FRAME_HEADROOM = 2;

export interface SocketIoServerOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  /** Bearer token for /status from outside loopback and for /admin calls. */
  adminToken: string;
  logger: Logger;
  /** The live dashboard at `/` (server/dashboard/); defaults: on, loopback only. */
  dashboard?: DashboardConfigInput;
  /**
   * Extra HTTP routes, tried in order before the dashboard; each returns true when it answered the request
   * (e.g. the browser client at `/join`, web/join-route.ts, which the CLI mounts: server/ never imports web/).
   */
  routes?: ReadonlyArray<(req: IncomingMessage, res: ServerResponse) => boolean>;
}

export interface RunningServer {
  url: string;
  port: number;
  bufferutil: boolean;
  close(): Promise<void>;
}

function hasBufferutil(): boolean {
  try {
    createRequire(import.meta.url).resolve('bufferutil');
    return true;
  } catch {
    return false;
  }
}

function bearerOk(req: IncomingMessage, adminToken: string): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer (.+)$/.exec(header);
  return m !== null && sameDigest(digest(m[1]!), digest(adminToken));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage, max = 16 * 1024): Promise<unknown> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new FedpeftError('MALFORMED_MESSAGE', 'request body too large');
    parts.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw new FedpeftError('MALFORMED_MESSAGE', 'request body must be JSON');
  }
}

export async function startSocketIoServer(
  coordinator: Coordinator,
  options: SocketIoServerOptions,
): Promise<RunningServer> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void handleHttp(req, res).catch((err: unknown) => json(res, 400, { error: (err as Error).message }));
  };
  const handleHttp = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/status') {
      if (!dashboard.decide(req).ok && !bearerOk(req, options.adminToken)) {
        json(res, 401, {
          error:
            'GET /status from outside loopback needs the dashboard token or Authorization: Bearer <admin token>',
        });
        return;
      }
      json(res, 200, coordinator.status());
      return;
    }
    if (req.method === 'POST' && url.pathname.startsWith('/admin/tokens/')) {
      if (!bearerOk(req, options.adminToken)) {
        json(res, 401, { error: 'admin calls need Authorization: Bearer <admin token>' });
        return;
      }
      const body = (await readBody(req)) as { token?: unknown; name?: unknown };
      if (typeof body.token !== 'string')
        throw new FedpeftError('MALFORMED_MESSAGE', 'body must be {"token": "..."}');
      if (url.pathname === '/admin/tokens/revoke') {
        json(res, 200, { revoked: coordinator.tokens.revoke(body.token) });
        return;
      }
      if (url.pathname === '/admin/tokens/add') {
        coordinator.tokens.add(body.token, typeof body.name === 'string' ? body.name : undefined);
        json(res, 200, { added: true });
        return;
      }
    }
    for (const route of options.routes ?? []) if (route(req, res)) return;
    if (await dashboard.handleHttp(req, res)) return;
    // socket.io handles its own path; everything else is not found.
    if (!url.pathname.startsWith('/socket.io')) json(res, 404, { error: 'not found' });
  };
  const http = options.tls
    ? createHttpsServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, handler)
    : createHttpServer(handler);
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(http, {
    // Chunks are at most MAX_CHUNK_BYTES; the frame limit leaves room for the envelope around them. The
    // transport admits up to twice the frame limit so that an oversize frame reaches the inbound guard,
    // which answers FRAME_TOO_LARGE before closing (engine.io itself would close without a word).
    maxHttpBufferSize: OVERSIZE_FRAME_HEADROOM * MAX_FRAME_BYTES,
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
  });
  const dashboard = mountDashboard(coordinator, io, options.dashboard, options.logger);
  io.on('connection', (socket) => {
    const label = `${socket.handshake.address}#${socket.id}`;
    try {
      coordinator.accept(socketIoLink(socket, label));
    } catch (err) {
      options.logger.log('error', 'accept-failed', { peer: label, message: (err as Error).message });
      socket.disconnect(true);
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  const bufferutil = hasBufferutil();
  options.logger.log('info', 'listening', {
    url: `${scheme}://${options.host}:${port}`,
    tls: !!options.tls,
    bufferutil,
  });
  return {
    url: `${scheme}://${options.host}:${port}`,
    port,
    bufferutil,
    close: () =>
      new Promise<void>((resolve) => {
        dashboard.close();
        void io.close(() => resolve());
        // Browsers (the dashboard) keep idle and preconnected sockets that would hold close() ~100 s.
        http.closeAllConnections();
      }),
  };
}
