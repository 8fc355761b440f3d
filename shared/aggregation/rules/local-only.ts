/**
 * Tensors that stay on the device (FedSA-LoRA's B). One arriving at the coordinator is a client or method bug,
 * or a leak of private state: it is rejected, never averaged.
 */
import { FedpeftError } from '../../errors.ts';
import type { RuleImplementation } from './rule-implementation.ts';

export const localOnlyRule: RuleImplementation<'local-only'> = {
  kind: 'local-only',
  description: 'never aggregated: the tensor stays on the device',
  streaming: true,
  meanLike: false,
  createAccumulator: (_rule, name) => ({
    check(_part, label) {
      throw new FedpeftError(
        'AGGREGATION_LOCAL_ONLY',
        `${label}: tensor "${name}" is local-only (private to each client) and must not be sent`,
      );
    },
    fold() {
      throw new FedpeftError('AGGREGATION_LOCAL_ONLY', `tensor "${name}" is local-only`);
    },
    result() {
      throw new FedpeftError('AGGREGATION_LOCAL_ONLY', `tensor "${name}" is local-only and has no aggregate`);
    },
  }),
};
