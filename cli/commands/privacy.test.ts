import { describe, expect, it, vi } from 'vitest';
import { main } from '../main.ts';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    const code = await main(['node', 'fedpeft', 'privacy', ...args]);
    return { code, out, err };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('fedpeft privacy epsilon', () => {
  it('--json prints epsilon and the best order; reproduces the TF Privacy tutorial ε = 3.01 with --conversion classic', async () => {
    const common = [
      '--sampling-rate',
      String(256 / 60000),
      '--noise-multiplier',
      '1.1',
      '--rounds',
      '14063',
      '--delta',
      '1e-5',
      '--json',
    ];
    const classic = await run('epsilon', ...common, '--conversion', 'classic');
    expect(classic.code).toBe(0);
    const c = JSON.parse(classic.out) as { epsilon: number; bestOrder: number; conversion: string };
    expect(Math.abs(c.epsilon - 3.01) / 3.01).toBeLessThan(0.01);
    expect(c.conversion).toBe('classic');
    const improved = JSON.parse((await run('epsilon', ...common)).out) as {
      epsilon: number;
      bestOrder: number;
    };
    expect(improved.epsilon).toBeLessThan(c.epsilon);
    expect(improved.bestOrder).toBeGreaterThan(1);
  });

  it('prints a readable line by default', async () => {
    const r = await run(
      'epsilon',
      '--sampling-rate',
      '0.01',
      '--noise-multiplier',
      '1',
      '--rounds',
      '300',
      '--delta',
      '1e-5',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ε = 1\.45\d at δ = 0\.00001 after 300 rounds/);
  });

  it('rejects bad values with a message naming the flag and exit code 2', async () => {
    const base = { '--sampling-rate': '0.1', '--noise-multiplier': '1', '--rounds': '10', '--delta': '1e-5' };
    const cases: [string, string, RegExp][] = [
      ['--sampling-rate', '1.5', /--sampling-rate must be in \(0, 1\]/],
      ['--sampling-rate', 'abc', /--sampling-rate must be a number/],
      ['--noise-multiplier', '0', /--noise-multiplier must be > 0/],
      ['--rounds', '2.5', /--rounds must be an integer >= 1/],
      ['--delta', '1', /--delta must be in \(0, 1\)/],
    ];
    for (const [flag, value, message] of cases) {
      const args = Object.entries({ ...base, [flag]: value }).flat();
      const r = await run('epsilon', ...args);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.err).toMatch(message);
    }
  });
});

describe('fedpeft privacy noise-multiplier', () => {
  it('finds a noise multiplier whose ε is just within the target', async () => {
    const r = await run(
      'noise-multiplier',
      '--sampling-rate',
      '0.01',
      '--rounds',
      '500',
      '--delta',
      '1e-5',
      '--target-epsilon',
      '3',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { noiseMultiplier: number; epsilon: number };
    expect(j.epsilon).toBeLessThanOrEqual(3);
    expect(j.epsilon).toBeGreaterThan(2.95);
  });
});
