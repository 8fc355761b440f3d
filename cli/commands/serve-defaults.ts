/**
 * What a `fedpeft serve` without a configured base trains on: the shared pretrained base of the presets
 * (shared/model-cache/shared-base.ts), from the cache or pretrained into it on first use — not the seeded
 * random initialisation, whose perplexity (hundreds) makes a healthy run look broken. Only when the model is
 * the shared base's architecture (its size, no overrides): any other model has no such base, and keeps the
 * seeded initialisation every party can build from `run.seed`. `--seeded-base` asks for that explicitly.
 */
import type { CoordinatorConfig } from '../../server/config.ts';
import type { BaseSpec } from '../../server/run-base.ts';
import { SHARED_BASE } from '../../shared/model-cache/shared-base.ts';

export function serveBaseSpec(config: CoordinatorConfig, seededBase: boolean): BaseSpec | undefined {
  if (config.model.base !== undefined) return config.model.base;
  if (seededBase) return undefined;
  if (config.model.name !== SHARED_BASE.size || Object.keys(config.model.config).length > 0) return undefined;
  return {
    pretrained: { corpus: SHARED_BASE.corpus, size: SHARED_BASE.size, minutes: SHARED_BASE.minutes },
  };
}
