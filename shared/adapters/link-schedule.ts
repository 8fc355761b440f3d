/**
 * Which chain link (c³LA, random-c³LA, CoLA, RAC-LoRA) a round belongs to. The coordinator owns the schedule
 * and tells clients the link with each round; a client calls `adapter.setLink(schedule.linkAt(round))` after
 * receiving that round's global shared tensors. Every client switches in the same round, which is what keeps
 * single-factor averaging exact across link changes.
 */
import { FedpeftError } from '../errors.ts';

export class LinkSchedule {
  /** Rounds per link (the merge interval). */
  readonly roundsPerLink: number;

  constructor(roundsPerLink: number) {
    if (!Number.isInteger(roundsPerLink) || roundsPerLink < 1) {
      throw new FedpeftError(
        'INVALID_CONFIG',
        `rounds per link must be an integer >= 1, got ${roundsPerLink}`,
      );
    }
    this.roundsPerLink = roundsPerLink;
  }

  /** Link of a 0-based round index. */
  linkAt(round: number): number {
    if (!Number.isInteger(round) || round < 0) {
      throw new FedpeftError('INVALID_ROUND', `round index must be a non-negative integer, got ${round}`);
    }
    return Math.floor(round / this.roundsPerLink);
  }

  /** True when `round` starts a new link (the previous link's final aggregate must be folded first). */
  startsLink(round: number): boolean {
    return round > 0 && this.linkAt(round) !== this.linkAt(round - 1);
  }
}
