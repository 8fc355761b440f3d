/**
 * The one pretrained base that every shipped preset and a default `fedpeft serve` fine-tune, so their numbers
 * are comparable and a fresh clone pretrains it once: tiny-gpt on Moby-Dick, seed 0, a 2-minute budget (the
 * cache key includes the budget, so a scenario with another budget gets — and pretrains — another base).
 * Two minutes, not the pretraining command's 5-minute default, keeps a fresh clone's first `npm start` near
 * five minutes in all; the base still clearly learns (see simulations/scenarios/quickstart.yaml).
 */
export const SHARED_BASE = {
  size: 'tiny-gpt',
  corpus: 'moby-dick',
  seed: 0,
  minutes: 2,
} as const;
