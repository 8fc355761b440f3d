/** The messages between the fleet runner and its client worker processes (`process.send`, advanced serialization). */
import type { Scenario } from '../scenario.ts';
import type { ClientAssignment, ClientRoundReport } from './virtual-client-host.ts';

export type ToWorker =
  | {
      type: 'init';
      scenario: Scenario;
      /** Base checkpoint directory (read once by each worker), or null for the seeded initialisation. */
      baseDir: string | null;
      backend: 'cpu' | 'wasm';
      token: string;
      serverLabel: string;
    }
  | { type: 'round'; id: number; url: string; assignments: ClientAssignment[] }
  | { type: 'abort'; reason: string }
  | { type: 'exit' };

export type FromWorker =
  | { type: 'ready'; pid: number }
  | { type: 'round-done'; id: number; reports: ClientRoundReport[]; peakTrainers: number; rssBytes: number }
  | { type: 'error'; message: string };
