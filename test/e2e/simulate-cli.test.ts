/**
 * `fedpeft simulate` on a tiny scenario file writes the whole run folder (metrics.jsonl, summary.json,
 * report.md, SVG plots, the per-round adapters), and `fedpeft export` round-trips the result: the independent
 * numpy reference (test/reference/hf_reference.py) gives the same logits for the exported base + PEFT adapter
 * as for the merged hf export, both from the run's saved global state.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../shared/tensor/backend.ts';
import { parseSafetensors } from '../../shared/model/safetensors.ts';
import { simulateCommand } from '../../cli/commands/simulate.ts';
import { exportCommand } from '../../cli/commands/export.ts';
import { tempDir } from './simulate-fixtures.ts';
import { REFERENCE_PYTHON } from '../reference/python.ts';

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
        '--exit-when-done',
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
      await cli(['export', '--run', runDir, '--round', '2', '--format', 'hf', '--out', join(dir, 'merged')]);
      const config = JSON.parse(await readFile(join(dir, 'peft', 'adapter_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      // q and v of each layer are one block-structured LoRA on GPT-2's fused c_attn: rank 4 + 4, scale 1.
      expect(config).toMatchObject({
        peft_type: 'LORA',
        r: 8,
        lora_alpha: 8,
        fan_in_fan_out: true,
        target_modules: ['transformer.h.0.attn.c_attn', 'transformer.h.1.attn.c_attn'],
        base_model_name_or_path: relative(process.cwd(), join(dir, 'peft-base')),
      });
      const peft = parseSafetensors(await readFile(join(dir, 'peft', 'adapter_model.safetensors'))).tensors;
      expect(peft.size).toBe(2 * 2); // 2 layers x (A, B)

      // The independent numpy reference: base + adapter (PEFT's merge rule) = the merged hf export.
      const ids = '1,80,200,13,13,99';
      const logits = (...args: string[]) =>
        (
          JSON.parse(
            execFileSync(REFERENCE_PYTHON, ['test/reference/hf_reference.py', ...args, '--ids', ids], {
              encoding: 'utf8',
            }),
          ) as { logits: number[][] }
        ).logits.flat();
      const adapted = logits(join(dir, 'peft-base'), '--adapter', join(dir, 'peft'));
      const merged = logits(join(dir, 'merged'));
      const base = logits(join(dir, 'peft-base'));
      const diff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
      expect(diff(adapted, base)).toBeGreaterThan(1e-6); // the adapter learned something
      expect(diff(adapted, merged)).toBeLessThan(1e-4);
      await expect(
        cli(['export', '--run', runDir, '--round', '9', '--format', 'peft', '--out', dir]),
      ).rejects.toThrow(/no round 9; saved rounds: 0 \(the base\), 1, 2/);
    },
  );
});
