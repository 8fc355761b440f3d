/**
 * LoSA's cubic sparsity ramp: T prune-and-train steps with target `S_t = S (1 - (1 - t/T)^3)`, t = 1..T.
 *
 * The cubic front-loads pruning (at T = 5 the first step already reaches 49% of S) while the model is still
 * close to dense and can absorb it, and takes small final steps when every removed weight hurts more; each step
 * is followed by training that lets the adapter recover before the next cut.
 */
import { FedpeftError } from '../errors.ts';

export const DEFAULT_PRUNING_STEPS = 5;

export interface PruningStep {
  /** 1-based step index. */
  step: number;
  /** Sparsity the model is pruned to at this step (cumulative, not incremental). */
  sparsity: number;
}

/** `S (1 - (1 - t/T)^3)`; step 0 is dense, step T reaches `target` exactly. */
export function cubicSparsity(target: number, step: number, totalSteps = DEFAULT_PRUNING_STEPS): number {
  validate(target, totalSteps);
  if (!Number.isInteger(step) || step < 0 || step > totalSteps) {
    throw new FedpeftError(
      'INVALID_OPTION',
      `pruning step must be an integer in [0, ${totalSteps}], got ${step}`,
    );
  }
  if (step === totalSteps) return target; // exact, not 1 - 0^3 rounded
  return target * (1 - (1 - step / totalSteps) ** 3);
}

/** Every step's target, t = 1..T: strictly increasing for a positive target, ending at `target`. */
export function planSparsitySchedule(target: number, totalSteps = DEFAULT_PRUNING_STEPS): PruningStep[] {
  validate(target, totalSteps);
  return Array.from({ length: totalSteps }, (_, i) => ({
    step: i + 1,
    sparsity: cubicSparsity(target, i + 1, totalSteps),
  }));
}

function validate(target: number, totalSteps: number): void {
  if (!(target >= 0 && target < 1)) {
    throw new FedpeftError('INVALID_SPARSITY', `target sparsity must be in [0, 1), got ${target}`);
  }
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new FedpeftError(
      'INVALID_OPTION',
      `the number of pruning steps must be a positive integer, got ${totalSteps}`,
    );
  }
}
