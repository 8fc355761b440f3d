/**
 * Chooses the update protocol from configuration: `privacy.secureAggregation` set -> the Bonawitz phases,
 * otherwise plain uploads. The engine knows neither; it only talks to the `UpdateProtocol` it is given.
 */
import type { CoordinatorConfig } from '../config.ts';
import type { Strategy } from '../strategies/strategy.ts';
import { PlainUpdates } from './plain.ts';
import { SecureAggregationUpdates } from './secure-aggregation.ts';
import type { UpdateProtocol } from './update-protocol.ts';

export type UpdateProtocolName = UpdateProtocol['name'];

export function updateProtocolName(privacy: CoordinatorConfig['privacy']): UpdateProtocolName {
  return privacy.secureAggregation ? 'secure-aggregation' : 'plain';
}

/** The protocol `config` asks for, over the (already privacy-wrapped) `strategy`. */
export function createUpdateProtocol(config: CoordinatorConfig, strategy: Strategy): UpdateProtocol {
  switch (updateProtocolName(config.privacy)) {
    case 'secure-aggregation':
      return new SecureAggregationUpdates(strategy);
    case 'plain':
      return new PlainUpdates(strategy);
  }
}
