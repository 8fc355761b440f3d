/**
 * `npm run readme:figures`: regenerates the README's measured figures and its two pictures from one
 * quickstart run, the way a newcomer's `npm start` runs it (same preset, same shared base — pretrained into
 * the cache first if it is missing, and timed on its own):
 *
 *   docs/images/dashboard.png   the live dashboard of the finished run, in headless Chromium
 *   docs/images/quality.png     the run's main plot (quality.svg: perplexity per round), rendered by Chromium
 *   docs/images/figures.json    the numbers the README quotes, with the date, machine and Node version
 *
 * Chromium: /usr/bin/chromium (or FEDPEFT_CHROMIUM), driven by playwright-core with the project's usual
 * headless flags. The run folder is kept (runs/readme-<timestamp>) so every figure can be traced to it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { selectBackend } from '../shared/tensor/backend.ts';
import { loadScenario } from '../simulations/load-scenario.ts';
import { RunDashboard } from '../simulations/dashboard/run-dashboard.ts';
import { resolveBase } from '../simulations/runner/base-model.ts';
import { ScenarioFleetRunner } from '../simulations/runner/fleet-runner.ts';
import { simulate } from '../simulations/simulate.ts';
import { RUN_FILES } from '../simulations/report/run-recorder.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IMAGES = join(ROOT, 'docs', 'images');
const CHROMIUM = process.env.FEDPEFT_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

async function main(): Promise<void> {
  await mkdir(IMAGES, { recursive: true });
  const backend = await selectBackend({});
  const { scenario } = loadScenario('quickstart', [
    { path: ['output', 'dir'], value: resolve(ROOT, 'runs') },
  ]);
  const dashboard = await RunDashboard.start();
  const write = (t: string) => void process.stdout.write(t);
  write(`readme figures: quickstart on ${backend.chosen}; dashboard ${dashboard.url}/\n`);
  let baseSeconds = 0;
  let baseLine = '';
  const wall0 = performance.now();
  try {
    const result = await simulate(new ScenarioFleetRunner(), scenario, {
      write,
      observer: dashboard,
      prepareBase: async (s) => {
        const t0 = performance.now();
        const base = await resolveBase(s, { log: (l) => write(`${l}\n`) });
        baseSeconds = (performance.now() - t0) / 1000;
        baseLine = base.description;
        return { description: base.description, pretrainedNow: base.pretrained?.created ?? false };
      },
    });
    const wallSeconds = (performance.now() - wall0) / 1000;
    const run = result.runs[0]!;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${dashboard.url}/`);
      await page.waitForFunction(() => document.getElementById('phase')?.textContent === 'finished', null, {
        timeout: 30_000,
      });
      await page.screenshot({ path: join(IMAGES, 'dashboard.png'), fullPage: true });
      const svg = await readFile(join(run.dir, RUN_FILES.qualityPlot), 'utf8');
      const plot = await browser.newPage({ viewport: { width: 900, height: 600 } });
      await plot.setContent(`<!doctype html><body style="margin:0;background:#fff">${svg}</body>`);
      await plot
        .locator('svg')
        .first()
        .screenshot({ path: join(IMAGES, 'quality.png') });
    } finally {
      await browser.close();
    }
    const s = run.summary;
    const figures = {
      generated_at: new Date().toISOString(),
      command: 'npm run readme:figures',
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        memory_gib: Math.round(os.totalmem() / 1024 ** 3),
        platform: `${os.platform()} ${os.release()}`,
        node: process.version,
        backend: backend.chosen,
      },
      run_dir: relative(ROOT, run.dir),
      base: baseLine,
      base_seconds: baseSeconds,
      base_ppl: s.base_ppl,
      final_global_ppl: s.final_global_ppl,
      final_personal_ppl: s.final_personal_ppl,
      rounds: s.rounds,
      bytes_up: s.bytes_up,
      rounds_wall_s: s.wall_s,
      whole_job_s: wallSeconds,
      // This process (coordinator, evaluation); the client worker processes are separate.
      peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    await writeFile(join(IMAGES, 'figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
    write(`\nwrote docs/images/dashboard.png, docs/images/quality.png, docs/images/figures.json\n`);
    write(`${JSON.stringify(figures, null, 2)}\n`);
  } finally {
    await dashboard.close();
  }
}

await main();
