/**
 * Learning-rate schedule for pretraining and fine-tuning: linear warm-up, then cosine decay to a floor.
 *
 * It is a function of *progress* in [0, 1] rather than of the step, because pretraining is usually
 * time-budgeted: the number of steps that fit in M minutes is unknown up front, so progress is
 * `max(step / maxSteps, elapsed / budget)` and the decay still ends exactly when the budget does. Warm-up is
 * counted in steps (it protects the first updates of a freshly initialised model, whatever the budget).
 */

export interface LrScheduleOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  peak: number;
  /** Steps of linear warm-up from `peak / warmupSteps` to `peak`. 0 disables warm-up. */
  warmupSteps: number;
  /** The floor the cosine decays to, as a fraction of `peak` (0.1 = decay to peak/10). */
  minRatio: number;
}

/** Learning rate for the update numbered `step` (0-based) at training progress `progress` in [0, 1]. */
export function warmupCosineLr(step: number, progress: number, options: LrScheduleOptions): number {
  const { peak, warmupSteps, minRatio } = options;
  if (!(peak > 0)) throw new Error(`peak learning rate must be > 0, got ${peak}`);
  if (!(minRatio >= 0 && minRatio <= 1)) throw new Error(`minRatio must be in [0, 1], got ${minRatio}`);
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  const p = Math.min(1, Math.max(0, progress));
  const cosine = 0.5 * (1 + Math.cos(Math.PI * p));
  return peak * (minRatio + (1 - minRatio) * cosine);
}

/** Training progress in [0, 1]: whichever budget (steps or wall time) is closer to being used up. */
export function trainingProgress(
  step: number,
  elapsedSeconds: number,
  budget: { maxSteps?: number | undefined; maxSeconds?: number | undefined },
): number {
  const bySteps = budget.maxSteps !== undefined ? step / budget.maxSteps : 0;
  const byTime = budget.maxSeconds !== undefined ? elapsedSeconds / budget.maxSeconds : 0;
  return Math.min(1, Math.max(bySteps, byTime));
}
