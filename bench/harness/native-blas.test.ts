import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { measureNativeSgemm } from './native-blas.ts';

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('native BLAS reference', () => {
  it('skips cleanly, with the reason, when the interpreter is missing', () => {
    const r = measureNativeSgemm(64, 1, 'python3-that-does-not-exist');
    expect(r).toEqual({ skipped: 'python3-that-does-not-exist is not installed' });
  });

  it.runIf(hasNumpy)('measures a positive GFLOP/s rate when numpy is present', () => {
    const r = measureNativeSgemm(256, 3);
    expect('gflops' in r && r.gflops > 0.1).toBe(true);
  });
});
