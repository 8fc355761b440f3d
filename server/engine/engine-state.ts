/** The run's mutable state shared by the engine's parts, and the queue that keeps its changes in order. */
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { Logger } from '../logger.ts';
import type { RoundSummary } from '../metrics-log.ts';
import type { ActiveRound, ClosedRound } from './round-state.ts';

export type CoordinatorPhase = 'waiting-for-clients' | 'training' | 'finished' | 'stopped';

export class RunState {
  phase: CoordinatorPhase = 'waiting-for-clients';
  started = false;
  completed = 0;
  /** The link the global's tensors belong to (chained methods): a round of a later link starts from a reset. */
  globalLink = 0;
  active: ActiveRound | undefined;
  lastClosed: ClosedRound | undefined;
  lastSummary: RoundSummary | null = null;

  constructor(public global: HostTensorMap) {}

  get over(): boolean {
    return this.phase === 'finished' || this.phase === 'stopped';
  }
}

/**
 * State changes that must not interleave (commits, round start and close, secure phases) run one at a time.
 * A failing task is logged, never breaks the queue.
 */
export class TaskQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly logger: Logger) {}

  enqueue(task: () => Promise<void> | void): void {
    this.tail = this.tail
      .then(task)
      .catch((err: unknown) =>
        this.logger.log('error', 'internal-error', { message: (err as Error).stack ?? String(err) }),
      );
  }

  drained(): Promise<void> {
    return this.tail;
  }
}
