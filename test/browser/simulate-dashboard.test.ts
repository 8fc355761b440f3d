/**
 * The dashboard of `fedpeft simulate`, in headless Chromium: a real simulated run (the fleet runner, in-process
 * transport) feeds the run dashboard the CLI starts. The run is held after its first round (its recorder
 * waits on a gate), so the page is checked while the run is live: run id, round counter, phase, the loss
 * chart's points. Then the run finishes, and the page — and a page opened only after the run is over, which is
 * what the dashboard staying up is for — must show the cards, charts and per-client table that summary.json
 * and clients.json hold.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, formatNumber } from '../../server/dashboard/page/format.ts';
import { RunDashboard } from '../../simulations/dashboard/run-dashboard.ts';
import type { ClientResult, RunSummary } from '../../simulations/report/run-records.ts';
import { ScenarioFleetRunner } from '../../simulations/runner/fleet-runner.ts';
import { simulate, type FleetRunner, type SimulateResult } from '../../simulations/simulate.ts';
import { tempDir, tinyScenario } from '../e2e/simulate-fixtures.ts';
import { chromiumSkipReason, launchChromium, type ChromiumSession } from './launch.ts';

const skip = chromiumSkipReason();
if (skip) console.warn(`[simulate dashboard browser test] skipped: ${skip}`);

const ROUNDS = 3;

/** The real runner, whose recorder holds the run after round 1 until `release()`. */
function gatedRunner(): { runner: FleetRunner; release: () => void; heldAfterRound1: Promise<void> } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held!: () => void;
  const heldAfterRound1 = new Promise<void>((r) => (held = r));
  const real = new ScenarioFleetRunner();
  const runner: FleetRunner = {
    run: (options) => {
      const recorder = new Proxy(options.recorder, {
        get(target, prop) {
          if (prop === 'recordRound')
            return async (input: Parameters<typeof target.recordRound>[0]) => {
              const recorded = await target.recordRound(input);
              if (input.round === 1) {
                held();
                await gate;
              }
              return recorded;
            };
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      return real.run({ ...options, recorder });
    },
  };
  return { runner, release, heldAfterRound1 };
}

const text = (page: Page, selector: string) => page.textContent(selector);
const points = (page: Page, chart: string) =>
  page.$eval(`#${chart} svg`, (e) => Number((e as SVGElement).dataset.points));

async function expectMatchesRun(page: Page, summary: RunSummary, clients: ClientResult[]): Promise<void> {
  await page.waitForFunction(() => document.getElementById('phase')?.textContent === 'finished', null, {
    timeout: 30_000,
  });
  expect(await text(page, '#run-id')).toBe(summary.run_id);
  expect(await text(page, '#method')).toBe(summary.method);
  expect(await text(page, '#round-counter')).toBe(`${summary.rounds} / ${ROUNDS}`);
  expect(await text(page, '#bytes-up')).toBe(formatBytes(summary.bytes_up));
  expect(await text(page, '#bytes-down')).toBe(formatBytes(summary.bytes_down));
  expect(await points(page, 'chart-loss')).toBe(summary.rounds);
  expect(await points(page, 'chart-bytes')).toBe(2 * summary.rounds); // up and down
  const rows = await page.$$eval('#clients-body tr', (trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')),
  );
  expect(rows).toEqual(
    clients.map((c) => [
      c.client_id,
      c.device_class ?? 'default',
      String(c.rounds_participated),
      formatNumber(c.base_ppl, 4),
      formatNumber(c.global_ppl, 4),
      formatNumber(c.personal_ppl, 4),
    ]),
  );
}

describe.skipIf(skip !== null)('the simulate dashboard in headless Chromium', () => {
  let browser: ChromiumSession;
  let dashboard: RunDashboard;

  beforeAll(async () => {
    browser = await launchChromium({ webgpu: false });
    dashboard = await RunDashboard.start();
  });
  afterAll(async () => {
    await dashboard?.close();
    await browser?.close();
  });

  it('follows a running simulation and still shows the finished run, matching summary.json', async () => {
    const dir = await tempDir('simulate-dashboard');
    const scenario = tinyScenario({
      transport: 'in-process',
      training: { rounds: ROUNDS, localSteps: 2, batchSize: 2, learningRate: 0.01 },
      evaluation: { windows: 3, batchSize: 4, personal: true },
      output: { dir: join(dir, 'runs'), plots: false },
    });
    const early = await browser.newPage();
    expect((await early.goto(`${dashboard.url}/`))?.status()).toBe(200);
    await early.waitForFunction(() => document.getElementById('connection')?.textContent === 'live');

    const { runner, release, heldAfterRound1 } = gatedRunner();
    const running: Promise<SimulateResult> = simulate(runner, scenario, {
      write: () => undefined,
      observer: dashboard,
    });
    await heldAfterRound1;
    // Live: the run is held after round 1 of ROUNDS.
    await early.waitForFunction(
      () => document.getElementById('round-counter')?.dataset.completed === '1',
      null,
      { timeout: 30_000 },
    );
    expect(await text(early, '#round-counter')).toBe(`1 / ${ROUNDS}`);
    await early.waitForFunction(() => document.getElementById('phase')?.textContent === 'training');
    expect(await points(early, 'chart-loss')).toBe(1);
    expect(await early.$$eval('#clients-body tr', (trs) => trs.length)).toBe(0);
    release();

    const result = await running;
    const run = result.runs[0]!;
    const summary = JSON.parse(await readFile(join(run.dir, 'summary.json'), 'utf8')) as RunSummary;
    const clients = JSON.parse(await readFile(join(run.dir, 'clients.json'), 'utf8')) as ClientResult[];
    expect(await text(early, '#run-id')).toBe(summary.run_id);
    await expectMatchesRun(early, summary, clients);

    // After the run: a page opened now gets the whole run from the snapshot.
    const late = await browser.newPage();
    expect((await late.goto(`${dashboard.url}/`))?.status()).toBe(200);
    await expectMatchesRun(late, summary, clients);
    expect(await late.textContent('#clients-note')).toMatch(/last round it took part in/);
    expect(await late.textContent('#clients-sessions')).toBe(`${clients.length} known sessions`);
  });
});
