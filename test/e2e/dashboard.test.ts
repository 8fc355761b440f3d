/**
 * The live dashboard end to end: a real coordinator over socket.io on loopback with three null-trainer
 * clients (which also report validation losses, so the perplexity curves have data), and the page in
 * headless Chromium. One page is open before the first round and must see the round counter and the curves
 * advance live; a second page opened mid-run must show the past rounds at once (history on connect). The
 * config turns the loopback exemption off, which is how a viewer outside loopback is simulated: without the
 * token the page, its namespace and /status are refused. Central DP is on, so the privacy budget shows. The
 * page is saved to test/artifacts/dashboard-waiting.png before the first round and dashboard.png at the end.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatNumber } from '../../server/dashboard/page/format.ts';
import type { RoundSummary } from '../../server/metrics-log.ts';
import { startSocketIoServer, type RunningServer } from '../../server/transport/socket-io-server.ts';
import { chromiumSkipReason, launchChromium, type ChromiumSession } from '../browser/launch.ts';
import { startCoordinator, TOKEN, waitFor, type Started } from './coordinator-fixture.ts';
import { NullClient } from './null-client.ts';

const skip = chromiumSkipReason();
if (skip) console.warn(`[dashboard browser test] skipped: ${skip}`);

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const DASHBOARD_TOKEN = 'dashboard-token-0123456789';
const ADMIN_TOKEN = 'admin-token-for-dashboard-test';
const ROUNDS = 6;

/** Synthetic validation losses that fall with the round, personal below global: plausible curves. */
function valLosses(index: number, round: number): { globalValLoss: number; personalValLoss: number } {
  const globalValLoss = 3.4 - 0.12 * round + 0.04 * index;
  return { globalValLoss, personalValLoss: globalValLoss - 0.05 - 0.03 * round };
}

interface Observed {
  completed: number[];
  lossPoints: number[];
}

/** Records every value the round counter and the loss chart take, from inside the page. */
async function observe(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: Observed = { completed: [], lossPoints: [] };
    (window as unknown as { seen: Observed }).seen = seen;
    const counter = document.getElementById('round-counter')!;
    const lossArea = document.querySelector('#chart-loss .plot-area')!;
    const record = () => {
      const c = Number(counter.dataset.completed);
      if (seen.completed.at(-1) !== c) seen.completed.push(c);
      const p = Number(lossArea.querySelector('svg')?.dataset.points ?? 0);
      if (seen.lossPoints.at(-1) !== p) seen.lossPoints.push(p);
    };
    record();
    new MutationObserver(record).observe(counter, { attributes: true });
    new MutationObserver(record).observe(lossArea, { childList: true });
  });
}

const completedOf = (page: Page) =>
  page.$eval('#round-counter', (e) => Number((e as HTMLElement).dataset.completed));
const pointsOf = (page: Page, chart: string) =>
  page.$eval(`#${chart} svg`, (e) => Number((e as SVGElement).dataset.points));

describe.skipIf(skip !== null)(
  `live dashboard in headless Chromium${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let browser: ChromiumSession;
    let started: Started;
    let server: RunningServer | undefined;
    const clients: NullClient[] = [];

    beforeAll(async () => {
      browser = await launchChromium({ webgpu: false });
    });

    afterAll(async () => {
      for (const c of clients) c.stop();
      await started?.close();
      await server?.close();
      await browser?.close();
    });

    it('follows a real run live, shows history to a late viewer, and enforces the token', async () => {
      started = await startCoordinator(
        {
          run: { rounds: ROUNDS },
          strategy: { name: 'fedavg', sampling: { minClients: 3 } },
          // Central DP, so the privacy budget is on the page (seeded noise: reproducible, protects nothing).
          privacy: { dp: { placement: 'central', clipNorm: 1, noiseMultiplier: 1.1, noiseSource: 'seeded' } },
        },
        { socket: false },
      );
      const running = await startSocketIoServer(started.coordinator, {
        host: '127.0.0.1',
        port: 0,
        adminToken: ADMIN_TOKEN,
        logger: started.logger,
        dashboard: { token: DASHBOARD_TOKEN, allowLoopbackWithoutToken: false, statusIntervalMs: 200 },
      });
      server = running;
      const { coordinator, method } = started;
      const url = running.url;
      const summaries: RoundSummary[] = [];
      coordinator.onRound((s) => summaries.push(s));

      // Token protection (a loopback request stands in for an outside one: the exemption is off).
      const refused = await fetch(`${url}/`);
      expect(refused.status).toBe(401);
      expect(await refused.text()).toMatch(/token/);
      expect((await fetch(`${url}/status`)).status).toBe(401);
      expect((await fetch(`${url}/status?token=${DASHBOARD_TOKEN}`)).status).toBe(200);
      expect(
        (await fetch(`${url}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
      ).toBe(200);

      for (let i = 0; i < 3; i++) {
        const reported = new Set<number>();
        const c = new NullClient({
          name: `c${i}`,
          index: i,
          token: TOKEN,
          method: 'pica',
          signature: method.signature,
          url,
          trainMs: () => 250,
          // Report validation losses before the commit (the same link keeps them in order).
          onUploadProgress: (client, round) => {
            if (reported.has(round)) return;
            reported.add(round);
            client.peer?.send({ kind: 'metrics', body: { roundId: round, ...valLosses(i, round) } });
          },
        });
        clients.push(c);
        await c.connect();
      }

      // A browser without the token is refused, the page and therefore its feed.
      const stranger = await browser.newPage();
      const strangerResponse = await stranger.goto(`${url}/`);
      expect(strangerResponse?.status()).toBe(401);
      expect(await stranger.textContent('body')).toMatch(/needs its token/);
      await stranger.close();

      // Page A: open before the first round.
      const early = await browser.newPage();
      await early.setViewportSize({ width: 1440, height: 900 });
      const errors: string[] = [];
      early.on('pageerror', (e) => errors.push(e.message));
      early.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      expect((await early.goto(`${url}/?token=${DASHBOARD_TOKEN}`))?.status()).toBe(200);
      await early.waitForFunction(() => document.getElementById('connection')?.textContent === 'live', null, {
        timeout: 20_000,
      });
      await early.waitForFunction(() => document.getElementById('run-id')?.textContent === 'test-run', null, {
        timeout: 20_000,
      });
      await observe(early);
      expect(await completedOf(early)).toBe(0);
      expect(await pointsOf(early, 'chart-loss')).toBe(0);
      await mkdir(ARTIFACTS, { recursive: true });
      await early.screenshot({ path: `${ARTIFACTS}dashboard-waiting.png`, fullPage: true });

      coordinator.start();
      await waitFor(() => coordinator.completedRounds >= 2, 60_000, 'two rounds');

      // Page B: opened mid-run, it shows the past rounds at once.
      const late = await browser.newPage();
      await late.goto(`${url}/?token=${DASHBOARD_TOKEN}`);
      await late.waitForFunction(
        () => Number(document.getElementById('round-counter')?.dataset.completed) >= 2,
        null,
        {
          timeout: 20_000,
        },
      );
      const lateCompleted = await completedOf(late);
      expect(await pointsOf(late, 'chart-loss')).toBeGreaterThanOrEqual(Math.min(lateCompleted, 2));
      expect(await pointsOf(late, 'chart-ppl')).toBeGreaterThanOrEqual(2 * Math.min(lateCompleted, 2));
      // Dashboard sockets are not clients.
      expect(coordinator.status().clients).toEqual({ connected: 3, sessions: 3 });

      await coordinator.whenFinished();
      for (const page of [early, late]) {
        await page.waitForFunction(
          (n) => Number(document.getElementById('round-counter')?.dataset.completed) === n,
          ROUNDS,
          {
            timeout: 20_000,
          },
        );
        expect(await pointsOf(page, 'chart-loss')).toBe(ROUNDS);
      }
      // Page A saw every round arrive live, one by one, and the loss curve grow with them.
      const seen = await early.evaluate(() => (window as unknown as { seen: Observed }).seen);
      expect(seen.completed).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(seen.lossPoints).toEqual([0, 1, 2, 3, 4, 5, 6]);
      // Global and personal perplexity: one point per round each, and the personal curve ends below the global.
      expect(await pointsOf(early, 'chart-ppl')).toBe(2 * ROUNDS);
      expect(await early.textContent('#round-counter')).toBe(`${ROUNDS} / ${ROUNDS}`);
      // The phase comes with the next status message after the last round.
      await early.waitForFunction(() => document.getElementById('phase')?.textContent === 'finished', null, {
        timeout: 10_000,
      });
      expect(await early.textContent('#clients-online')).toBe('3');
      expect(await early.locator('#rounds-body tr').count()).toBe(Math.min(ROUNDS, 10));
      const meanLoss = (fn: (i: number) => number) => (fn(0) + fn(1) + fn(2)) / 3;
      const finalGlobalPpl = Math.exp(meanLoss((i) => valLosses(i, ROUNDS).globalValLoss));
      const finalPersonalPpl = Math.exp(meanLoss((i) => valLosses(i, ROUNDS).personalValLoss));
      expect(await early.textContent('#perplexity')).toBe(
        `${Number(finalGlobalPpl.toPrecision(4))} / ${Number(finalPersonalPpl.toPrecision(4))}`,
      );
      // Null clients report train loss 1 + index: the mean is 2 every round.
      expect(await early.textContent('#train-loss')).toBe('2');
      // The privacy budget: the DP wrapper's ε after the last round, at its δ, and one point per round.
      const last = summaries.at(-1)!.strategy;
      expect(last.dpEpsilon).toBeGreaterThan(0);
      expect(await early.textContent('#privacy')).toBe(`ε ${formatNumber(last.dpEpsilon, 3)}`);
      expect(await early.textContent('#privacy-sub')).toBe(`δ = ${formatNumber(last.dpDelta, 2)} · z = 1.1`);
      expect(await pointsOf(early, 'chart-privacy')).toBe(ROUNDS);
      expect(errors).toEqual([]);

      await early.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });

      // Open dashboards must not hold the coordinator's shutdown (browsers keep idle connections).
      const closing = Date.now();
      server = undefined;
      await running.close();
      expect(Date.now() - closing).toBeLessThan(5_000);
      await early.waitForFunction(
        () => document.getElementById('connection')?.textContent === 'run over',
        null,
        {
          timeout: 10_000,
        },
      );
    });
  },
);
