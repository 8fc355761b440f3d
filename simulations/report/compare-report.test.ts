import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { scenarioSchema } from '../scenario.ts';
import { COMPARISON_FILES, compareReport, readRunFolder } from './compare-report.ts';
import { RunRecorder } from './run-recorder.ts';
import { fakeRound, fakeSummary } from './test-fixtures.ts';

async function run(dir: string, method: string, bytesUp: number, ppl: number) {
  const recorder = await RunRecorder.create({
    scenario: scenarioSchema.parse({ output: { dir, plots: false } }),
    runId: method,
  });
  await recorder.recordRound(fakeRound(1));
  await recorder.finish({
    summary: { ...fakeSummary(method), run_id: method, bytes_up: bytesUp, final_global_ppl: ppl },
    clients: [],
  });
  return recorder.dir;
}

describe('compareReport', () => {
  it('writes one table and one quality-vs-bytes-vs-time plot over the runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-compare-'));
    const dirs = [await run(dir, 'pica', 50_000, 7.5), await run(dir, 'lora', 400_000, 8.25)];
    const runs = dirs.map(readRunFolder);
    expect(runs.map((r) => r.rounds.length)).toEqual([1, 1]);
    const out = await compareReport(runs, join(dir, 'cmp'));
    expect(out.files.sort()).toEqual(Object.values(COMPARISON_FILES).sort());
    const md = readFileSync(join(out.dir, COMPARISON_FILES.report), 'utf8');
    expect(md).toMatch(/\| \[pica\]\(\.\.\/pica\/report\.md\) \| 12,288 \| — \| 7\.500 \| -38\.4% \|/);
    expect(md).toMatch(/\| \[lora\]\(\.\.\/lora\/report\.md\) \| 12,288 \| — \| 8\.250 \|/);
    expect(md).toContain('Every run saw the same data, clients and seed');
    const svg = readFileSync(join(out.dir, COMPARISON_FILES.plot), 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toContain('MiB sent (up + down, whole run)');
    expect(svg).toContain('wall-clock seconds');
    // One labelled point per method in each of the two panels.
    expect(svg.match(/>pica</g)?.length).toBeGreaterThanOrEqual(2);
    expect(svg.match(/>lora</g)?.length).toBeGreaterThanOrEqual(2);
    const data = JSON.parse(readFileSync(join(out.dir, COMPARISON_FILES.data), 'utf8')) as {
      method: string;
      dir: string;
    }[];
    expect(data.map((d) => [d.method, d.dir])).toEqual([
      ['pica', '../pica'],
      ['lora', '../lora'],
    ]);
  });

  it('refuses nothing to compare, mixed tasks, and folders that are not runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-compare-'));
    await expect(compareReport([], dir)).rejects.toThrow(/at least one run/);
    const lm = readRunFolder(await run(dir, 'pica', 1, 7));
    const cls = {
      dir,
      summary: {
        ...lm.summary,
        task: 'classification' as const,
        base_accuracy: 0.5,
        final_global_accuracy: 0.9,
      },
    };
    await expect(compareReport([lm, cls], dir)).rejects.toThrow(
      /cannot compare language-model runs with classification/,
    );
    expect(() => readRunFolder(join(dir, 'nope'))).toThrow(/has no summary\.json/);
  });
});
