/**
 * The coordinator's public entry point (cli, simulations, bench and tests import it from here). The engine
 * itself is in server/engine/ (docs/engine.md).
 */
export {
  Coordinator,
  type CoordinatorOptions,
  type CoordinatorPhase,
  type CoordinatorStatus,
} from './engine/coordinator.ts';
