/** Reading the run a client takes part in: from the Welcome, from the state store, and comparing two. */
import { FedpeftError } from '../../shared/errors.ts';
import { getAdapterMethod } from '../../shared/adapters/registry.ts';
import type { MessageBody } from '../../shared/wire/messages.ts';
import type { RunRecord } from '../state-store.ts';
import type { ClientRunConfig } from '../trainer.ts';

export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FedpeftError('MALFORMED_MESSAGE', `${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FedpeftError('MALFORMED_MESSAGE', `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function runFromRecord(record: RunRecord): ClientRunConfig {
  return {
    model: record.model,
    modelConfig: record.modelConfig,
    method: record.method,
    methodConfig: record.methodConfig,
    seed: record.seed,
    ...(record.base ? { base: record.base } : {}),
  };
}

export function runFromWelcome(runMsg: MessageBody<'welcome'>['run']): ClientRunConfig {
  return {
    model: runMsg.model,
    modelConfig: parseJsonObject(runMsg.modelConfigJson, 'run.model_config_json'),
    method: runMsg.method,
    methodConfig: parseJsonObject(runMsg.methodConfigJson, 'run.method_config_json'),
    seed: runMsg.seed,
    ...(runMsg.baseSha256 ? { base: { sha256: runMsg.baseSha256, bytes: runMsg.baseBytes } } : {}),
  };
}

/** A method config with its defaults filled in, so `{r: 4}` and the Welcome's full config compare equal. */
function normalizedMethodConfig(run: ClientRunConfig): string {
  try {
    const parsed = getAdapterMethod(run.method).configSchema.safeParse(run.methodConfig ?? {});
    if (parsed.success) return JSON.stringify(parsed.data);
  } catch {
    // unknown method: compare the raw configs
  }
  return JSON.stringify(run.methodConfig ?? {});
}

export function sameRun(a: ClientRunConfig, b: ClientRunConfig): boolean {
  return (
    a.model === b.model &&
    a.method === b.method &&
    a.seed === b.seed &&
    (a.base?.sha256 ?? '') === (b.base?.sha256 ?? '') &&
    JSON.stringify(a.modelConfig ?? {}) === JSON.stringify(b.modelConfig ?? {}) &&
    normalizedMethodConfig(a) === normalizedMethodConfig(b)
  );
}
