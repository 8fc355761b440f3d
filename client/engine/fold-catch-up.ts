/**
 * Catch-up for stateful methods (proto/fedpeft.proto, "Fold history"). A chained method folds each finished
 * link's final global into the base; FLoRA folds every round's stacked global. A client whose base holds
 * fewer folds than the round asks for (`RoundInstruction.fold_count`) — it missed rounds, or restarted from
 * its state store on the plain base — would otherwise train on the wrong base without noticing. It asks the
 * coordinator for the missing range (`FoldRequest`), downloads every listed fold like a global state, and
 * folds them in index order (`ClientTrainer.applyFold`) before it trains.
 *
 * Everything in a reply is checked before the base changes: the folds must be exactly the requested indices,
 * in order, and every fold's tensors must fit the adapter. A reply that does not is FOLD_HISTORY_INCOMPLETE
 * (the round fails; the base keeps the folds it had).
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { MAX_FOLDS_PER_REPLY } from '../../shared/wire/limits.ts';
import type { Fold, TransferManifest } from '../../shared/wire/messages.ts';
import type { Peer } from '../../shared/wire/peer.ts';
import type { ClientTrainer } from '../trainer.ts';
import type { ClientLogger } from './types.ts';

export interface FoldDownloads {
  /** The joined connection (waits for the next one while disconnected). */
  joinedPeer(): Promise<Peer>;
  /** Downloads one fold's tensors (ChunkAck with its transfer id), rejecting after `deadlineAt`. */
  download(manifest: TransferManifest, peer: Peer, deadlineAt: number): Promise<HostTensorMap>;
  /** Downloads no longer needed once folded (frees their host copies). */
  release(transferId: string): void;
}

export class FoldCatchUp {
  /**
   * Transfer id of the last fold applied: a round whose global is that very fold (the first round of a
   * link, every FLoRA round) trains from the fold's reset, not from the fold again.
   */
  lastFoldTransfer: string | undefined;
  /** The last fold's values: a caught-up client gets them under the fold's own id (`fold-<i>`). */
  private lastFoldValues: HostTensorMap | undefined;

  constructor(
    private readonly downloads: FoldDownloads,
    private readonly logger: ClientLogger,
  ) {}

  /** Brings `trainer`'s base to `target` folds; a no-op when it already holds them. */
  async catchUp(trainer: ClientTrainer, target: number, roundId: number, deadlineAt: number): Promise<void> {
    while (trainer.foldCount < target) {
      const fromIndex = trainer.foldCount;
      const toIndex = Math.min(target, fromIndex + MAX_FOLDS_PER_REPLY);
      const peer = await this.downloads.joinedPeer();
      this.logger.log('info', 'fold-catch-up', { round: roundId, fromIndex, toIndex });
      const reply = await peer.request({ kind: 'foldRequest', body: { fromIndex, toIndex } });
      if (reply.message.kind !== 'foldHistory') {
        throw new FedpeftError(
          'UNEXPECTED_MESSAGE',
          `the coordinator answered fold_request with ${reply.message.kind}`,
        );
      }
      const folds = reply.message.body.folds;
      checkRange(folds, fromIndex, toIndex);
      // Download every fold of the range before folding any: a lost connection or a deadline then leaves
      // the base as it was rather than somewhere in the middle of the range.
      const values: HostTensorMap[] = [];
      for (const fold of folds) values.push(await this.downloads.download(fold.state, peer, deadlineAt));
      for (const [i, fold] of folds.entries()) {
        trainer.applyFold(values[i]!);
        this.lastFoldTransfer = fold.state.transferId;
        this.lastFoldValues = values[i]!;
        this.downloads.release(fold.state.transferId);
        this.logger.log('debug', 'fold-applied', { index: fold.index, link: fold.linkIndex });
      }
    }
  }

  /**
   * A GlobalState announced as the next fold (`fold_count == own + 1`): fold it now, sampled next round or
   * not, so every base stays equal. Anything further ahead waits for the next instruction's catch-up.
   */
  applyIfNext(trainer: ClientTrainer, foldCount: number, transferId: string, values: HostTensorMap): boolean {
    if (foldCount !== trainer.foldCount + 1) return false;
    trainer.applyFold(values);
    this.lastFoldTransfer = transferId;
    this.lastFoldValues = values;
    return true;
  }

  /**
   * Whether a round's global state is the last fold the base took in (the first round of a link, every
   * FLoRA round): the client then trains from the fold's reset, not from the folded state again. A client
   * that caught up downloaded that fold as `fold-<i>`, not under the global's id, so equal values count too.
   */
  isLastFold(transferId: string, global: HostTensorMap): boolean {
    if (transferId === this.lastFoldTransfer) return true;
    const fold = this.lastFoldValues;
    if (!fold || fold.size !== global.size) return false;
    for (const [name, t] of global) {
      const f = fold.get(name);
      if (!f || f.data.length !== t.data.length) return false;
      for (let i = 0; i < t.data.length; i++) if (f.data[i] !== t.data[i]) return false;
    }
    return true;
  }
}

function checkRange(folds: readonly Fold[], fromIndex: number, toIndex: number): void {
  const problems: string[] = [];
  if (folds.length !== toIndex - fromIndex)
    problems.push(`${folds.length} folds listed, ${toIndex - fromIndex} requested`);
  folds.forEach((fold, i) => {
    if (fold.index !== fromIndex + i)
      problems.push(`entry ${i} is fold ${fold.index}, expected ${fromIndex + i}`);
  });
  if (problems.length > 0) {
    throw new FedpeftError(
      'FOLD_HISTORY_INCOMPLETE',
      `the coordinator's fold history for [${fromIndex}, ${toIndex}) cannot be folded: ${problems.slice(0, 4).join('; ')}`,
    );
  }
}
