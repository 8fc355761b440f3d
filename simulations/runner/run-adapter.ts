/**
 * What a run folder records about its adapter, so `fedpeft export` can rebuild it without the scenario
 * machinery: `adapter.json` (method, its full config, model, run seed, the base checkpoint) and the global
 * shared state after every round, `adapters/round-<N>.safetensors`.
 */
export const ADAPTER_FILE = 'adapter.json';

export function adapterRoundFile(round: number): string {
  return `adapters/round-${round}.safetensors`;
}

export interface RunAdapterRecord {
  format: 'fedpeft-run-adapter';
  method: string;
  methodConfig: Record<string, unknown>;
  model: string;
  modelConfig: Record<string, unknown>;
  seed: number;
  /** Base checkpoint directory (the cache entry), or null for the seeded initialisation. */
  baseDir: string | null;
  /** Chained methods' rounds per link (absent in folders written before it was recorded: the default, 5). */
  roundsPerLink?: number;
  /** Rounds whose global state was saved. */
  rounds: number[];
}
