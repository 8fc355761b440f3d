/** The Welcome a coordinator sends an admitted client: its session, the run, the current round, the limits. */
import { MAX_FRAME_BYTES } from '../../shared/wire/limits.ts';
import type { Frame } from '../../shared/wire/messages.ts';
import type { Peer } from '../../shared/wire/peer.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { MethodState } from '../method-state.ts';
import type { Admission } from './sessions.ts';

export interface WelcomeContext {
  runId: string;
  config: CoordinatorConfig;
  method: MethodState;
  currentRound: number;
  /** The round id heartbeats carry (the open round, else the last completed one). */
  heartbeatRound: () => number;
}

export function sendWelcome(peer: Peer, frame: Frame, admission: Admission, ctx: WelcomeContext): void {
  const { session, token, resumed } = admission;
  const t = ctx.config.transport;
  const method = ctx.method;
  peer.startHeartbeat(t.heartbeatIntervalMs, () => ({ roundId: ctx.heartbeatRound() }));
  peer.send(
    {
      kind: 'welcome',
      body: {
        sessionId: session.id,
        sessionToken: token,
        run: {
          runId: ctx.runId,
          method: method.method,
          methodConfigJson: JSON.stringify(method.methodConfig),
          model: method.model,
          modelConfigJson: JSON.stringify(method.modelConfig),
          seed: ctx.config.run.seed,
          baseSha256: method.base?.sha256 ?? '',
          baseBytes: method.base?.bytes ?? 0,
        },
        currentRound: ctx.currentRound,
        limits: {
          chunkBytes: t.chunkBytes,
          maxFrameBytes: MAX_FRAME_BYTES,
          maxTransferBytes: t.maxTransferBytes,
          maxInFlightChunks: t.maxInFlightChunks,
          heartbeatIntervalMs: t.heartbeatIntervalMs,
        },
        resumed,
        resumeUploads: session.inbox.pendingAcks(),
      },
    },
    { inReplyTo: frame.requestId },
  );
}
