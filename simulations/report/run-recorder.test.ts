import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { scenarioSchema } from '../scenario.ts';
import { RUN_FILES, RunRecorder } from './run-recorder.ts';
import { roundMetricsSchema, runSummarySchema } from './run-records.ts';
import { fakeRound, fakeSummary } from './test-fixtures.ts';

const CLIENTS = [
  {
    client_id: 'Abraham Lincoln',
    device_class: 'reference',
    rounds_participated: 3,
    base_ppl: 12,
    global_ppl: 9,
    personal_ppl: 8,
  },
  { client_id: 'Zachary Taylor', rounds_participated: 0, base_ppl: 14, global_ppl: 11, personal_ppl: null },
];

/** Every `<text>` label of an SVG, and how many marks of each ARIA role it draws. */
function inspectSvg(svg: string): { texts: string[]; roles: Map<string, number> } {
  expect(XMLValidator.validate(svg)).toBe(true);
  const texts: string[] = [];
  const roles = new Map<string, number>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'text')
        for (const t of [value].flat()) texts.push(String((t as Record<string, unknown>)['#text'] ?? t));
      if (key === '@_aria-roledescription') roles.set(String(value), (roles.get(String(value)) ?? 0) + 1);
      walk(value);
    }
  };
  walk(new XMLParser({ ignoreAttributes: false }).parse(svg));
  return { texts, roles };
}

async function recordedRun(dir: string, plots = true) {
  const scenario = scenarioSchema.parse({ name: 'unit', output: { dir, plots } });
  const recorder = await RunRecorder.create({ scenario, now: () => new Date('2026-01-02T03:04:05Z') });
  const seen: number[] = [];
  recorder.onRound((m) => seen.push(m.round));
  for (const r of [1, 2, 3]) await recorder.recordRound(fakeRound(r));
  const artifacts = await recorder.finish({
    summary: { ...fakeSummary(), run_id: 'ignored' },
    clients: CLIENTS,
  });
  return { recorder, artifacts, seen };
}

describe('RunRecorder', () => {
  it('writes the run folder: metrics, summary, clients, plots and report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-run-'));
    const { recorder, artifacts, seen } = await recordedRun(dir);
    expect(recorder.runId).toBe('unit-20260102-030405Z');
    expect(seen).toEqual([1, 2, 3]);
    expect(artifacts.files.sort()).toEqual(Object.values(RUN_FILES).sort());

    const lines = readFileSync(join(recorder.dir, RUN_FILES.metrics), 'utf8').trim().split('\n');
    expect(lines.map((l) => roundMetricsSchema.parse(JSON.parse(l)).round)).toEqual([1, 2, 3]);

    const summary = runSummarySchema.parse(
      JSON.parse(readFileSync(join(recorder.dir, RUN_FILES.summary), 'utf8')),
    );
    expect(summary.run_id).toBe(recorder.runId);
    for (const key of [
      'method',
      'clients',
      'rounds',
      'base_ppl',
      'final_global_ppl',
      'final_personal_ppl',
      'bytes_up',
      'bytes_down',
      'wall_s',
      'trainable_params',
    ])
      expect(summary).toHaveProperty(key);

    const report = readFileSync(join(recorder.dir, RUN_FILES.report), 'utf8');
    expect(report).toContain(`# fedpeft run \`${recorder.runId}\``);
    expect(report).toContain('![Perplexity per round](quality.svg)');
    expect(report).toContain('![Per-client before and after](clients.svg)');
    expect(report).toMatch(
      /\| Abraham Lincoln \| reference \| 3 \| 12\.000 \| 9\.000 \| 8\.000 \| -33\.3% \|/,
    );
    expect(report).toContain('| validation perplexity, global (final) | 8.166 | -33.0% |');
    expect(report).toContain('## How to read this report');
    // Every table says what its figures are; "personal" is not one round's value, and the report says so.
    expect(report).toContain("validation perplexity, personal (every client's latest)");
    expect(report).toMatch(/clients are scored in different rounds, so it is not one round's value/);
    expect(report).toMatch(/a different sample of clients every round, so this column zig-zags/);
    expect(report.match(/\n_[^\n]+_\n/g)?.length).toBeGreaterThanOrEqual(3);
    expect(readFileSync(join(recorder.dir, RUN_FILES.scenario), 'utf8')).toContain('name: unit');
  });

  it('draws the expected series in valid SVG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-run-'));
    const { recorder } = await recordedRun(dir);
    const quality = inspectSvg(readFileSync(join(recorder.dir, RUN_FILES.qualityPlot), 'utf8'));
    expect(quality.texts).toEqual(expect.arrayContaining(['global', 'personal', 'base', 'round']));
    expect(quality.roles.get('line mark')).toBe(3);
    const loss = inspectSvg(readFileSync(join(recorder.dir, RUN_FILES.lossPlot), 'utf8'));
    expect(loss.texts).toEqual(expect.arrayContaining(['train (local)', 'validation (global)']));
    expect(loss.roles.get('line mark')).toBe(2);
    const clients = inspectSvg(readFileSync(join(recorder.dir, RUN_FILES.clientsPlot), 'utf8'));
    expect(clients.texts).toEqual(
      expect.arrayContaining(['Abraham Lincoln', 'Zachary Taylor', 'base', 'global', 'personal']),
    );
    // 2 clients x (base, global) + 1 personal: the missing personal value is not drawn as zero.
    expect(clients.roles.get('point')).toBe(5);
    // The value axis is fitted to the data (8..12 here), not drawn from 0.
    expect(clients.texts).not.toContain('0');
  });

  it('skips plots when output.plots is off, and never reuses a folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-run-'));
    const { artifacts } = await recordedRun(dir, false);
    expect(artifacts.files.some((f) => f.endsWith('.svg'))).toBe(false);
    const scenario = scenarioSchema.parse({ name: 'unit', output: { dir } });
    const again = await RunRecorder.create({ scenario, now: () => new Date('2026-01-02T03:04:05Z') });
    expect(again.runId).toBe('unit-20260102-030405Z-2');
  });

  it('rejects invalid or out-of-order records with the offending field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedpeft-run-'));
    const recorder = await RunRecorder.create({
      scenario: scenarioSchema.parse({ output: { dir } }),
      runId: 'r',
    });
    await expect(recorder.recordRound(fakeRound(1, { bytes_up: -1 }))).rejects.toThrow(/bytes_up/);
    await recorder.recordRound(fakeRound(2));
    await expect(recorder.recordRound(fakeRound(2))).rejects.toThrow(/round 2 recorded after round 2/);
    const bad = { ...fakeSummary(), final_global_ppl: null };
    await expect(recorder.finish({ summary: { ...bad, run_id: 'r' }, clients: [] })).rejects.toThrow(
      /final_global_ppl: final_global_ppl is required/,
    );
  });
});
