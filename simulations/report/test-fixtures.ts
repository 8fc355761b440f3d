/** Plausible run records for the report tests (numbers shaped like a real SOTU run, not measurements). */
import type { RoundMetricsInput, RunSummaryInput } from './run-records.ts';

export function fakeRound(round: number, over: Partial<RoundMetricsInput> = {}): RoundMetricsInput {
  return {
    round,
    participants: 4,
    completed: 3,
    dropped: 1,
    dropped_clients: [{ client_id: 'Zachary Taylor', reason: 'dropout' }],
    train_loss: 2.5 - round * 0.1,
    global_val_loss: 2.4 - round * 0.1,
    global_val_ppl: Math.exp(2.4 - round * 0.1),
    global_val_accuracy: null,
    personal_val_loss: 2.3 - round * 0.12,
    personal_val_ppl: Math.exp(2.3 - round * 0.12),
    personal_val_accuracy: null,
    bytes_up: 40_000,
    bytes_down: 160_000,
    round_s: 1.5,
    ...over,
  };
}

export function fakeSummary(method = 'pica'): Omit<RunSummaryInput, 'run_id'> & { task: 'language-model' } {
  return {
    scenario: 'unit',
    task: 'language-model' as const,
    method,
    strategy: 'fedavg',
    seed: 0,
    clients: 2,
    rounds: 3,
    base_ppl: Math.exp(2.5),
    final_global_ppl: Math.exp(2.1),
    final_personal_ppl: Math.exp(1.94),
    bytes_up: 120_000,
    bytes_down: 480_000,
    wall_s: 4.5,
    trainable_params: 12_288,
    started_at: '2026-01-01T00:00:00.000Z',
    finished_at: '2026-01-01T00:00:05.000Z',
  };
}
