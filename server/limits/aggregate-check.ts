/**
 * The last check before a round's aggregate becomes the global state (and is checkpointed): every value
 * finite, and the change bounded, ||new - previous|| <= maxRelativeChange * ||previous|| + maxAbsoluteChange
 * (L2 over all shared tensors). Per-update checks cannot catch everything a combination of accepted updates
 * can do (e.g. weights that are each in bounds); this bounds what one round can do to the run.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import type { LimitsConfig } from './limits-config.ts';

/** The AGGREGATE_REJECTED error for `next`, or null when it may be committed. */
export function aggregateRejection(
  previous: HostTensorMap,
  next: HostTensorMap,
  limits: Pick<LimitsConfig, 'maxRelativeChange' | 'maxAbsoluteChange'>,
): FedpeftError | null {
  let prevSq = 0;
  let diffSq = 0;
  for (const [name, t] of next) {
    const before = previous.get(name);
    // A tensor whose shape changed (FLoRA's stack) is compared with zero: its whole norm is change.
    const same = before !== undefined && before.data.length === t.data.length;
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i]!;
      if (!Number.isFinite(v)) {
        return new FedpeftError(
          'AGGREGATE_REJECTED',
          `the aggregate has a non-finite value in "${name}"; the previous global state is kept`,
        );
      }
      const d = same ? v - before.data[i]! : v;
      diffSq += d * d;
    }
  }
  for (const t of previous.values()) for (const v of t.data) prevSq += v * v;
  const change = Math.sqrt(diffSq);
  const bound = limits.maxRelativeChange * Math.sqrt(prevSq) + limits.maxAbsoluteChange;
  if (!Number.isFinite(change) || change > bound) {
    return new FedpeftError(
      'AGGREGATE_REJECTED',
      `the aggregate moved the global state by ${change.toPrecision(4)} (L2); at most ${bound.toPrecision(4)} ` +
        `(limits.maxRelativeChange x ||previous|| + limits.maxAbsoluteChange); the previous global state is kept`,
    );
  }
  return null;
}
