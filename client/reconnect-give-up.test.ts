/**
 * The client runtime's reconnect loop against a coordinator that never answers: it gives up with
 * COORDINATOR_UNREACHABLE (naming where it tried) once `giveUpAfterMs` has passed, and `stop()` ends a
 * reconnect wait at once instead of sitting out the backoff.
 */
import { describe, expect, it } from 'vitest';
import { FedpeftError } from '../shared/errors.ts';
import type { Connector } from './connection.ts';
import { ClientRuntime } from './runtime.ts';
import { MemoryStateStore } from './memory-state-store.ts';

const URL = 'http://127.0.0.1:9/nowhere';

function refusing(): Connector & { attempts: number } {
  const c = {
    label: URL,
    attempts: 0,
    connect: () => {
      c.attempts++;
      return Promise.reject(new FedpeftError('CONNECT_FAILED', `cannot connect to ${URL}: refused`));
    },
  };
  return c;
}

function runtime(connector: Connector, options: { giveUpAfterMs?: number; initialMs: number }) {
  const events: string[] = [];
  const rt = new ClientRuntime({
    connector,
    authToken: 'token-0123456789abcdef',
    clientName: 'lonely',
    store: new MemoryStateStore(),
    createTrainer: () => Promise.reject(new Error('never reached: no coordinator')),
    logger: { log: (_level, event) => events.push(event) },
    backoff: { initialMs: options.initialMs, maxMs: options.initialMs, jitter: 0 },
    ...(options.giveUpAfterMs !== undefined ? { giveUpAfterMs: options.giveUpAfterMs } : {}),
  });
  return { rt, events };
}

describe('ClientRuntime reconnect', () => {
  it('gives up with COORDINATOR_UNREACHABLE after giveUpAfterMs, naming the server', async () => {
    const connector = refusing();
    const { rt } = runtime(connector, { giveUpAfterMs: 200, initialMs: 20 });
    const err = (await rt.run().catch((e: unknown) => e)) as FedpeftError;
    expect(err).toBeInstanceOf(FedpeftError);
    expect(err.code).toBe('COORDINATOR_UNREACHABLE');
    expect(err.message).toContain(URL);
    expect(connector.attempts).toBeGreaterThan(1);
  });

  it('stop() ends the wait before the next attempt at once (a one-hour backoff does not hold it)', async () => {
    const connector = refusing();
    const { rt, events } = runtime(connector, { initialMs: 3_600_000 });
    const outcome = rt.run();
    while (!events.includes('connect-failed')) await new Promise((r) => setTimeout(r, 5));
    rt.stop('test over');
    const result = await outcome;
    expect(result.runComplete).toBe(false);
    expect(connector.attempts).toBe(1);
  });
});
