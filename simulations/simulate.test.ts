import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario } from './load-scenario.ts';
import { fakeRound, fakeSummary } from './report/test-fixtures.ts';
import { simulate, taskOf, type FleetRunner } from './simulate.ts';

/** A stand-in for the fleet runner: reports two rounds and a summary, and remembers what it was asked to run. */
function scriptedRunner(): FleetRunner & { methods: string[] } {
  const methods: string[] = [];
  return {
    methods,
    async run({ scenario, recorder, log }) {
      methods.push(scenario.method.name);
      log(`clients joined: 2`);
      await recorder.recordRound(fakeRound(1));
      await recorder.recordRound(fakeRound(2));
      return {
        summary: { ...fakeSummary(scenario.method.name), rounds: 2 },
        clients: [
          {
            client_id: 'Abraham Lincoln',
            rounds_participated: 2,
            base_ppl: 12,
            global_ppl: 9,
            personal_ppl: 8,
          },
        ],
      };
    },
  };
}

const NOW = () => new Date('2026-03-04T05:06:07Z');

describe('simulate', () => {
  it('runs one scenario into a run folder, printing the live table and the report path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-sim-'));
    const { scenario } = loadScenario('quickstart', [`output.dir=${dir}`, 'output.plots=false']);
    let out = '';
    const runner = scriptedRunner();
    const result = await simulate(runner, scenario, { write: (t) => (out += t), now: NOW });
    expect(runner.methods).toEqual(['pica']);
    expect(result.reportPath).toBe(join(dir, 'quickstart-20260304-050607Z', 'report.md'));
    expect(existsSync(result.reportPath)).toBe(true);
    expect(out).toContain('clients joined: 2');
    expect(out).toMatch(/round\s+clients/);
    expect(out.trimEnd().endsWith(`report: ${result.reportPath}`)).toBe(true);
  });

  it('in comparison mode runs every method and writes one comparison report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-sim-'));
    const { scenario } = loadScenario('compare-methods', [
      `output.dir=${dir}`,
      'compare.methods=[pica, lora]',
    ]);
    const runner = scriptedRunner();
    const result = await simulate(runner, scenario, { write: () => {}, now: NOW });
    expect(runner.methods).toEqual(['pica', 'lora']);
    expect(result.runs.map((r) => r.summary.run_id)).toEqual([
      'compare-methods-20260304-050607Z-pica',
      'compare-methods-20260304-050607Z-lora',
    ]);
    expect(result.comparisonDir).toBe(join(dir, 'compare-methods-20260304-050607Z-comparison'));
    const md = readFileSync(result.reportPath, 'utf8');
    expect(md).toContain('[pica]');
    expect(md).toContain('[lora]');
    expect(existsSync(join(result.comparisonDir as string, 'comparison.svg'))).toBe(true);
    // Each run's saved scenario is that run's method, so it reproduces on its own.
    const saved = readFileSync(join(result.runs[1]?.dir as string, 'scenario.yaml'), 'utf8');
    expect(saved).toMatch(/method:\n\s+name: lora/);
  });

  it('prepares the base once, before any run, and names it in every report, charged to no method', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-sim-'));
    const { scenario } = loadScenario('compare-methods', [
      `output.dir=${dir}`,
      'compare.methods=[pica, lora]',
    ]);
    const runner = scriptedRunner();
    const calls: string[] = [];
    const result = await simulate(runner, scenario, {
      write: () => {},
      now: NOW,
      prepareBase: (s) => {
        calls.push(`base before ${runner.methods.length} runs: ${s.base.corpus}`);
        return Promise.resolve({
          description: 'tiny-gpt pretrained on moby-dick (900 steps, validation perplexity 11.25; cache k)',
          pretrainedNow: true,
        });
      },
    });
    expect(calls).toEqual(['base before 0 runs: moby-dick']);
    const md = readFileSync(result.reportPath, 'utf8');
    expect(md).toContain(
      '**Base**: tiny-gpt pretrained on moby-dick (900 steps, validation perplexity 11.25; cache k), the same for every run below.',
    );
    expect(md).toMatch(
      /pretrained now, first use of this base\) took [\d.]+ s, reported here and counted in no method's time/,
    );
    const svg = readFileSync(join(result.comparisonDir as string, 'comparison.svg'), 'utf8');
    expect(svg).toMatch(/base preparation \d+ s, once, not included/);
    const report = readFileSync(join(result.runs[0]?.dir as string, 'report.md'), 'utf8');
    expect(report).toContain('validation perplexity 11.25');
  });

  it('knows classifiers from language models', () => {
    expect(taskOf(loadScenario('spam-personalization').scenario)).toBe('classification');
    expect(taskOf(loadScenario('quickstart').scenario)).toBe('language-model');
  });
});
