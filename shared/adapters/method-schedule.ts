/**
 * The method-schedule settings a run gives next to `method.name` and `method.config`, in the coordinator
 * config and in a scenario alike (one copy, so a simulation and a deployment of the same method follow the
 * same schedule). Today that is the chain schedule of chained methods (c3la, random-c3la, cola, rac-lora);
 * other methods ignore it.
 */
import { z } from 'zod';

export const DEFAULT_ROUNDS_PER_LINK = 5;

export const methodScheduleFields = {
  roundsPerLink: z
    .number({ error: 'method.roundsPerLink must be a whole number >= 1' })
    .int('method.roundsPerLink must be a whole number')
    .min(1, 'method.roundsPerLink must be >= 1')
    .default(DEFAULT_ROUNDS_PER_LINK)
    .describe(
      'Chained methods (c3la, random-c3la, cola, rac-lora): rounds per chain link; a new link starts (the previous ' +
        'one is folded into the base) every this many rounds. Ignored by other methods.',
    ),
};

/** How many chain links `rounds` rounds run through (1 for any run of at least one round). */
export function linksRun(rounds: number, roundsPerLink: number): number {
  return rounds < 1 ? 0 : Math.floor((rounds - 1) / roundsPerLink) + 1;
}
