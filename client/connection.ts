/**
 * How a client opens connections to its coordinator. The runtime (runtime.ts) owns the session: it calls
 * `connect()` again after every disconnect, with its own backoff, and re-joins with its session id and token.
 * A `Connector` therefore only has to produce one fresh `FrameLink` per call, which is why the same runtime
 * runs over socket.io here and over the coordinator's in-process links in the fleet simulator
 * (`{ label, connect: async () => connectInProcess(coordinator) }`).
 *
 * socket.io specifics: websocket transport only (polling base64-encodes binary and cannot carry 1 MiB
 * frames), socket.io's own reconnection off (a reconnect needs a new Join, which only the runtime can send),
 * and a connect timeout so a dead address fails instead of hanging.
 */
import { io, type Socket } from 'socket.io-client';
import { FedpeftError } from '../shared/errors.ts';
import type { FrameLink } from '../shared/wire/frame-link.ts';
import { socketIoLink } from '../shared/wire/socket-io-link.ts';

export interface Connector {
  /** The coordinator's address, for log lines and to tell sessions of different servers apart. */
  readonly label: string;
  /** Opens one new connection; rejects (retryably) when the coordinator cannot be reached. */
  connect(): Promise<FrameLink>;
}

export interface SocketIoConnectorOptions {
  /** Give up one connection attempt after this long (ms). Default 10 s. */
  connectTimeoutMs?: number;
}

/** A `Connector` to `url` (`http://host:port` or `https://...`) over socket.io's websocket transport. */
export function socketIoConnector(url: string, options: SocketIoConnectorOptions = {}): Connector {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FedpeftError(
      'INVALID_SERVER_URL',
      `--server ${JSON.stringify(url)} is not a URL; use e.g. http://localhost:7070`,
    );
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) {
    throw new FedpeftError(
      'INVALID_SERVER_URL',
      `--server must be an http(s):// or ws(s):// URL, got ${url}`,
    );
  }
  const timeout = options.connectTimeoutMs ?? 10_000;
  let attempt = 0;
  return {
    label: url,
    connect(): Promise<FrameLink> {
      attempt++;
      const socket: Socket = io(url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        timeout,
      });
      return new Promise<FrameLink>((resolve, reject) => {
        const onConnect = () => {
          socket.off('connect_error', onError);
          resolve(socketIoLink(socket, `${url}#${attempt}`));
        };
        const onError = (err: Error) => {
          socket.off('connect', onConnect);
          socket.disconnect();
          reject(new FedpeftError('CONNECT_FAILED', `cannot connect to ${url}: ${err.message}`));
        };
        socket.once('connect', onConnect);
        socket.once('connect_error', onError);
      });
    },
  };
}
