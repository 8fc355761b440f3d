/**
 * What the hostile-client tests share: a coordinator over real socket.io with honest null clients whose
 * uploads wait for a gate (so each round stays open while hostile input is thrown at it), raw connections
 * that can emit anything on the wire event, a liveness probe, and the expected honest aggregate.
 */
import { io, type Socket } from 'socket.io-client';
import type { CoordinatorConfigInput } from '../../server/config.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { OutgoingTransfer } from '../../shared/wire/chunking.ts';
import { ErrorCode, WIRE_EVENT, type MessageInput } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { DType } from '../../shared/wire/tensor-codec.ts';
import { startCoordinator, TOKEN, waitFor, type Started } from '../e2e/coordinator-fixture.ts';
import { NullClient, nullUpdate } from '../e2e/null-client.ts';

export { TOKEN, waitFor };
export const TOKEN2 = 'second-join-token-0123456789';

export interface Conn {
  socket: Socket;
  peer: Peer;
  /** Error frames received: code name and in_reply_to. */
  errors: Array<{ code: string; inReplyTo: number }>;
  /** Every frame received (any kind). */
  frames: number;
}

/** A gate per round: honest clients upload round r once `open(r)` was called. */
export class RoundGates {
  private readonly waiters = new Map<number, Array<() => void>>();
  private readonly opened = new Set<number>();
  wait(round: number): Promise<void> {
    if (this.opened.has(round)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(round, [...(this.waiters.get(round) ?? []), resolve]));
  }
  open(round: number): void {
    this.opened.add(round);
    for (const w of this.waiters.get(round) ?? []) w();
    this.waiters.delete(round);
  }
}

export interface Harness {
  s: Started;
  honest: NullClient[];
  gates: RoundGates;
  connect(): Promise<Conn>;
  /** A connection that joined (a new, unsampled-while-a-round-is-open session unless signed before start). */
  joined(token?: string): Promise<Conn & { sessionId: string; sessionToken: string }>;
  /** Fails unless a fresh connection gets its heartbeat echoed: the coordinator is alive and serving. */
  probe(): Promise<void>;
  close(): Promise<void>;
}

export function joinBody(s: Started, overrides: Partial<MessageInput<'join'>> = {}): MessageInput<'join'> {
  const sig = s.method.signature;
  return {
    clientName: 'mallory',
    authToken: TOKEN,
    capabilities: { supportedMethods: ['pica'] },
    signatures: [
      {
        method: 'pica',
        value: {
          spec: { name: 'sig', dtype: DType.FLOAT32, shape: [sig.length], byteLength: sig.byteLength },
          data: new Uint8Array(sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength)),
        },
      },
    ],
    ...overrides,
  };
}

export async function startHarness(overrides: CoordinatorConfigInput, honestCount = 2): Promise<Harness> {
  const s = await startCoordinator(overrides);
  const gates = new RoundGates();
  const honest: NullClient[] = [];
  for (let i = 0; i < honestCount; i++) {
    const c = new NullClient({
      name: `honest-${i}`,
      index: i,
      token: TOKEN,
      method: 'pica',
      signature: s.method.signature,
      url: s.url,
      beforeUpload: (round) => gates.wait(round),
    });
    honest.push(c);
    await c.connect();
  }
  const opened: Socket[] = [];
  const connect = async (): Promise<Conn> => {
    const socket = io(s.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    opened.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const peer = new Peer({ side: 'client', link: socketIoLink(socket, 'hostile') });
    const conn: Conn = { socket, peer, errors: [], frames: 0 };
    peer.onMessage((f) => {
      conn.frames++;
      if (f.message.kind === 'error')
        conn.errors.push({
          code: ErrorCode[f.message.body.code] ?? String(f.message.body.code),
          inReplyTo: f.inReplyTo,
        });
    });
    return conn;
  };
  const joined = async (token = TOKEN) => {
    const c = await connect();
    const reply = await c.peer.request({ kind: 'join', body: joinBody(s, { authToken: token }) });
    if (reply.message.kind !== 'welcome') throw new Error('expected a welcome');
    // The coordinator closes a joined connection after 3 silent heartbeat intervals.
    c.peer.startHeartbeat(300);
    return Object.assign(c, {
      sessionId: reply.message.body.sessionId,
      sessionToken: reply.message.body.sessionToken,
    });
  };
  const probe = async () => {
    const c = await connect();
    let echoed = false;
    c.socket.on(WIRE_EVENT, () => (echoed = true));
    c.peer.send({ kind: 'heartbeat', body: { sentUnixMs: Date.now() } });
    await waitFor(() => echoed, 5_000, 'the coordinator to echo a heartbeat');
    c.peer.close();
  };
  return {
    s,
    honest,
    gates,
    connect,
    joined,
    probe,
    async close() {
      for (const c of honest) c.stop();
      for (const so of opened) so.disconnect();
      await s.close();
    },
  };
}

/** The update client `index` would send for `round` from `global` (the null trainer), as a transfer. */
export function honestTransfer(
  id: string,
  global: HostTensorMap,
  index: number,
  round: number,
): OutgoingTransfer {
  return OutgoingTransfer.fromHostTensors(id, nullUpdate(global, index, round), { chunkBytes: 4096 });
}

export function codeOf(err: unknown): string {
  return (err as { code?: string }).code ?? String(err);
}

/** The code of the first error frame after `before`, or 'NONE' when none came within `ms`. */
export async function nextError(
  c: Conn,
  before: number,
  ms = 4_000,
): Promise<{ code: string; inReplyTo: number }> {
  try {
    await waitFor(() => c.errors.length > before, ms, 'an error frame');
  } catch {
    return { code: 'NONE', inReplyTo: 0 };
  }
  return c.errors[before]!;
}
