import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/fedpeft.js', import.meta.url));

interface LatestJson {
  machine: Record<string, unknown>;
  results: Record<string, { value: number; unit: string; suite: string }>;
}

describe('fedpeft bench', () => {
  it('--quick --only step measures the LoRA step and writes latest.json and latest.md', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-bench-cli-'));
    await run(process.execPath, [bin, 'bench', '--quick', '--only', 'step', '--out', out], {
      timeout: 120_000,
    });
    const latest = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8')) as LatestJson;
    for (const field of ['cpu', 'cores', 'memoryGiB', 'node', 'tfjs', 'backend', 'date']) {
      expect(latest.machine[field], field).toBeDefined();
    }
    expect(Object.keys(latest.results).sort()).toEqual([
      'step.mlp_lora.fastgrad_vs_builtin.time_ratio',
      'step.mlp_lora.wasm.builtin.ms',
      'step.mlp_lora.wasm.fast.ms',
    ]);
    const r = latest.results;
    const ratio = r['step.mlp_lora.fastgrad_vs_builtin.time_ratio']!.value;
    // The ratio is computed from the two step times of the same run.
    expect(ratio).toBeCloseTo(
      r['step.mlp_lora.wasm.fast.ms']!.value / r['step.mlp_lora.wasm.builtin.ms']!.value,
      10,
    );
    expect(ratio).toBeGreaterThan(0);
    expect(await readFile(path.join(out, 'latest.md'), 'utf8')).toContain('`step.mlp_lora.wasm.fast.ms`');
  });

  it('--list names the suites; an unknown --only suite exits 2 with the valid names', async () => {
    const { stdout } = await run(process.execPath, [bin, 'bench', '--list'], { timeout: 60_000 });
    expect(stdout).toMatch(/matmul\s+default/);
    expect(stdout).toMatch(/step\s+default/);
    const failed = await run(process.execPath, [bin, 'bench', '--only', 'nope'], { timeout: 60_000 }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect('code' in failed && failed.code).toBe(2);
    expect((failed as { stderr: string }).stderr).toMatch(
      /Unknown bench suite 'nope'\. Available: matmul, step/,
    );
  });
});
