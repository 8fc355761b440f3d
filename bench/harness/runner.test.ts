import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runSuites } from './runner.ts';
import type { BenchFile, BenchSuite } from './types.ts';

const quiet = (): void => {};

describe('bench runner', () => {
  it('records through the context, merges across runs, and isolates a failing suite', async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-bench-'));
    let seenQuick: boolean | undefined;
    const good: BenchSuite = {
      name: 'good',
      description: 'records two keys',
      run(ctx) {
        seenQuick = ctx.quick;
        ctx.record('good.ms', 2, 'ms');
        ctx.record('good.ratio', ctx.quick ? 0.5 : 0.25, 'x');
        return Promise.resolve();
      },
    };
    const slow: BenchSuite = {
      name: 'slow',
      description: 'opt-in',
      optIn: { flag: 'slow', description: 'slow things' },
      run(ctx) {
        ctx.record('slow.s', 100, 's');
        return Promise.resolve();
      },
    };
    const bad: BenchSuite = {
      name: 'bad',
      description: 'records, then throws',
      run(ctx) {
        ctx.record('bad.k', 1, 'x');
        return Promise.reject(new Error('boom'));
      },
    };
    const first = await runSuites({ suites: [good, slow], quick: false, outDir, backend: 'cpu', log: quiet });
    expect(first.failures).toEqual([]);
    const second = await runSuites({ suites: [good, bad], quick: true, outDir, backend: 'cpu', log: quiet });
    expect(seenQuick).toBe(true);
    expect(second.failures.map((f) => f.suite)).toEqual(['bad']);
    const onDisk = JSON.parse(await readFile(second.paths.json, 'utf8')) as BenchFile;
    expect(onDisk.results).toEqual({
      'good.ms': { value: 2, unit: 'ms', suite: 'good' },
      'good.ratio': { value: 0.5, unit: 'x', suite: 'good' },
      'slow.s': { value: 100, unit: 's', suite: 'slow' },
    });
    expect(Object.keys(onDisk.suites).sort()).toEqual(['good', 'slow']);
    expect(onDisk.machine.cores).toBeGreaterThan(0);
  });

  it('rejects malformed keys, duplicate keys and non-finite values', async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-bench-'));
    const cases: [string, (r: (k: string, v: number, u: string) => void) => void, RegExp][] = [
      ['upper', (r) => r('Bad.Key', 1, 'x'), /lower-case/],
      ['dup', (r) => (r('a.b', 1, 'x'), r('a.b', 2, 'x')), /recorded twice/],
      ['nan', (r) => r('a.b', NaN, 'x'), /not a finite number/],
      ['unit', (r) => r('a.b', 1, ''), /needs a unit/],
    ];
    for (const [name, body, message] of cases) {
      const suite: BenchSuite = {
        name,
        description: name,
        run: (ctx) => Promise.resolve(body((k, v, u) => ctx.record(k, v, u))),
      };
      const report = await runSuites({ suites: [suite], quick: true, outDir, backend: 'cpu', log: quiet });
      expect(report.failures[0]?.error).toMatch(message);
    }
  });
});
