import { describe, expect, it } from 'vitest';
import { loadScenario } from './load-scenario.ts';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('loadScenario: errors name where the bad value came from', () => {
  it('a bad --set value is blamed on the --set and its key, not on the preset file', () => {
    const message = messageOf(() => loadScenario('quickstart', ['training.rounds=six']));
    expect(message).toMatch(/^ {2}--set training\.rounds=six: training\.rounds: .*whole number/m);
    expect(message).not.toMatch(/quickstart\.yaml/);
  });

  it('an unknown key given by --set names the --set; the last --set of a field is the one blamed', () => {
    const message = messageOf(() =>
      loadScenario('quickstart', ['training.rounds=2', 'training.roundz=3', 'training.rounds=-1']),
    );
    expect(message).toMatch(/--set training\.roundz=3: training\.roundz: unknown key/);
    expect(message).toMatch(/--set training\.rounds=-1: training\.rounds:/);
    expect(message).not.toMatch(/rounds=2/);
  });

  it('a --set that replaces a whole block is blamed for the fields below it; flags built into overrides too', () => {
    const message = messageOf(() =>
      loadScenario('quickstart', [
        'training={rounds: zero}',
        { path: ['transport'], value: 'pigeon', source: '--transport pigeon' },
      ]),
    );
    expect(message).toMatch(/--set training=\{rounds: zero\}: training\.rounds:/);
    expect(message).toMatch(/--transport pigeon: transport:/);
  });

  it('a --set that cannot be applied names the --set', () => {
    const message = messageOf(() => loadScenario('quickstart', ['seed.x=1']));
    expect(message).toMatch(/^--set seed\.x=1: cannot set seed\.x: seed is \d+, not a block/);
  });
});
