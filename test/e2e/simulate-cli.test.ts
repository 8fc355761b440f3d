/**
 * `fedpeft simulate` on a tiny scenario file writes the whole run folder (metrics.jsonl, summary.json,
 * report.md, SVG plots, the per-round adapters), and `fedpeft export` round-trips the result: the PEFT adapter's
 * `lora_B @ lora_A * alpha/r` is exactly what the merged-model export added to each base kernel, and both
 * come from the run's saved global state.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { loadCheckpoint } from '../../shared/model/checkpoint.ts';
import { parseSafetensors } from '../../shared/model/safetensors.ts';
import { createModel } from '../../shared/model/zoo.ts';
import { simulateCommand } from '../../cli/commands/simulate.ts';
import { exportCommand } from '../../cli/commands/export.ts';
import { tempDir } from './simulate-fixtures.ts';

async function cli(args: string[]): Promise<string> {
  const program = new Command('fedpeft').option('--backend <name>').exitOverride();
  simulateCommand.register(program);
  exportCommand.register(program);
  let out = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

afterEach(() => vi.restoreAllMocks());

describe('fedpeft simulate + export', () => {
  it(
    'writes the run folder and exports a PEFT adapter that matches the merged model',
    { timeout: 120_000 },
    async () => {
      await useBackend('cpu');
      const dir = await tempDir('sim-cli');
      const file = join(dir, 'tiny.yaml');
      await writeFile(
        file,
        stringify({
          name: 'tiny-cli',
          seed: 2,
          data: { dataset: 'sotu', partition: { kind: 'natural', by: 'president', maxClients: 3 } },
          model: { name: 'test-gpt' },
          base: { source: 'random' },
          method: { name: 'lora', config: { r: 4, alpha: 8, roles: ['q', 'v'] } },
          strategy: { name: 'fedavg' },
          training: { rounds: 2, localSteps: 2, batchSize: 2, learningRate: 0.02 },
          evaluation: { windows: 2 },
        }),
      );
      const out = await cli([
        'simulate',
        file,
        '--transport',
        'in-process',
        '--out',
        join(dir, 'runs'),
        '--backend',
        'cpu',
        '--json',
      ]);
      const printed = JSON.parse(out) as {
        report: string;
        runs: Array<{ dir: string; summary: { rounds: number } }>;
      };
      const runDir = printed.runs[0]!.dir;
      expect(printed.report).toBe(join(runDir, 'report.md'));
      for (const f of [
        'metrics.jsonl',
        'summary.json',
        'report.md',
        'quality.svg',
        'loss.svg',
        'clients.svg',
        'adapter.json',
      ])
        expect(existsSync(join(runDir, f)), f).toBe(true);
      expect((await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);
      expect(await readFile(join(runDir, 'quality.svg'), 'utf8')).toContain('<svg');
      expect(await readFile(join(runDir, 'report.md'), 'utf8')).toContain('quality.svg');

      await cli(['export', '--run', runDir, '--format', 'peft', '--out', join(dir, 'peft')]);
      await cli([
        'export',
        '--run',
        runDir,
        '--round',
        '2',
        '--format',
        'safetensors',
        '--out',
        join(dir, 'merged'),
      ]);
      const config = JSON.parse(await readFile(join(dir, 'peft', 'adapter_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(config).toMatchObject({
        peft_type: 'LORA',
        r: 4,
        lora_alpha: 8,
        target_modules: ['attn.q', 'attn.v'],
      });
      const peft = parseSafetensors(await readFile(join(dir, 'peft', 'adapter_model.safetensors'))).tensors;
      expect(peft.size).toBe(2 * 2 * 2); // 2 layers x (q, v) x (A, B)

      const merged = await loadCheckpoint(join(dir, 'merged'));
      const base = createModel('test-gpt', { seed: 2 });
      try {
        let maxErr = 0;
        let maxDelta = 0;
        for (const module of ['layers.0.attn.q', 'layers.1.attn.v']) {
          const A = peft.get(`base_model.model.${module}.lora_A.weight`)!; // [r, in]
          const B = peft.get(`base_model.model.${module}.lora_B.weight`)!; // [out, r]
          const K0 = base.parameters().get(`${module}.kernel`)!.dataSync(); // [in, out]
          const K1 = merged.parameters().get(`${module}.kernel`)!.dataSync();
          const [r, n] = A.shape as [number, number];
          const m = B.shape[0]!;
          for (let i = 0; i < n; i++)
            for (let o = 0; o < m; o++) {
              let d = 0;
              for (let k = 0; k < r; k++) d += B.data[o * r + k]! * A.data[k * n + i]!;
              d *= 8 / 4;
              const actual = K1[i * m + o]! - K0[i * m + o]!;
              maxErr = Math.max(maxErr, Math.abs(actual - d));
              maxDelta = Math.max(maxDelta, Math.abs(d));
            }
        }
        expect(maxDelta).toBeGreaterThan(1e-5); // the adapter learned something
        expect(maxErr).toBeLessThan(1e-5);
      } finally {
        base.dispose();
        merged.dispose();
      }
      await expect(
        cli(['export', '--run', runDir, '--round', '9', '--format', 'peft', '--out', dir]),
      ).rejects.toThrow(/no round 9; saved rounds: 1, 2/);
    },
  );
});
