import { describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from './config.ts';

describe('coordinator config', () => {
  it('gives a loopback PiCa run on tiny-gpt with no file at all', () => {
    const c = parseCoordinatorConfig(undefined);
    expect(c.model.name).toBe('tiny-gpt');
    expect(c.method.name).toBe('pica');
    expect(c.transport.host).toBe('127.0.0.1');
    expect(c.strategy.name).toBe('fedavg');
    expect(c.checkpoint.journal).toBe(true);
  });

  it('names the bad field and what to do', () => {
    expect(() => parseCoordinatorConfig({ round: { quorum: 2 } })).toThrow(
      /round\.quorum must be in \(0, 1\]/,
    );
    expect(() => parseCoordinatorConfig({ transport: { port: 70_000 } })).toThrow(
      /transport\.port must be in 0\.\.65535/,
    );
    expect(() => parseCoordinatorConfig({ auth: { tokens: ['short'] } })).toThrow(/at least 16 characters/);
    expect(() => parseCoordinatorConfig({ rounds: 3 })).toThrow(/rounds/);
  });
});
