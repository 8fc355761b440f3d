/**
 * The tiny-GPT PiCa training step in headless Chromium, per browser backend that exists here, against the same
 * step in Node on wasm, in the same run. Each backend runs in its own page of one browser; a page warms up
 * (shader compilation, wasm tiering) before the timed steps, and the median step is recorded.
 *
 * Opt-in (`--browser`): it needs Chromium and takes about a minute, mostly on the software GPU backends.
 */
import type { Page } from 'playwright-core';
import { useBackend } from '../../shared/tensor/backend.ts';
import { buildBrowserBundle, PROBE_PAGE } from '../../web/build.ts';
import {
  runTrainingProbe,
  type TrainingProbeOptions,
  type TrainingProbeResult,
} from '../../web/training-probe.ts';
import type { FedpeftWeb } from '../../web/browser-entry.ts';
import {
  chromiumSkipReason,
  launchChromium,
  openFedpeftPage,
  serveBundle,
} from '../../test/browser/launch.ts';
import { median } from '../harness/timing.ts';
import type { BenchSuite } from '../harness/types.ts';

const BACKENDS = ['webgpu', 'webgl', 'wasm'] as const;

/** Steps excluded from the median: the first ones compile shaders / tier up wasm. */
const WARMUP_STEPS = 3;

function probeOptions(quick: boolean): TrainingProbeOptions {
  return {
    model: 'tiny-gpt',
    method: 'pica',
    adapterConfig: { r: 16 },
    seed: 1,
    steps: WARMUP_STEPS + (quick ? 3 : 8),
    batchSize: 4,
  };
}

function medianStep(run: TrainingProbeResult): number {
  return median(run.stepMs.slice(WARMUP_STEPS));
}

export const browserSuite: BenchSuite = {
  name: 'browser',
  description: 'tiny-gpt PiCa (r=16) training step in headless Chromium per backend vs Node wasm',
  optIn: {
    flag: 'browser',
    description: 'browser benchmarks in headless Chromium (needs /usr/bin/chromium)',
  },
  async run(ctx) {
    const skip = chromiumSkipReason();
    if (skip) {
      ctx.log(`browser suite skipped: ${skip}`);
      return;
    }
    const options = probeOptions(ctx.quick);
    await useBackend('wasm');
    const nodeMs = medianStep(await runTrainingProbe(options));
    ctx.record('step.node.wasm.ms', nodeMs, 'ms');

    const bundle = await buildBrowserBundle();
    const server = await serveBundle(bundle);
    const browser = await launchChromium({ webgpu: true });
    try {
      for (const backend of BACKENDS) {
        // The device check page: the join page (index.html) probes backends on load, which would race.
        const { page } = await openFedpeftPage(browser, `${server.url}${PROBE_PAGE}`);
        try {
          const run = await trainIn(page, backend, options);
          if (typeof run === 'string') {
            ctx.log(`step.browser.${backend}: not measured (${run})`);
            continue;
          }
          const ms = medianStep(run);
          ctx.record(`step.browser.${backend}.ms`, ms, 'ms');
          ctx.record(`ratio.step.browser_${backend}_vs_node_wasm`, ms / nodeMs, 'x');
          ctx.log(`${backend}: ${ms.toFixed(1)} ms/step (Node wasm ${nodeMs.toFixed(1)} ms)`);
        } finally {
          await page.close();
        }
      }
    } finally {
      await browser.close();
      await server.close();
    }
  },
};

/** One run in a fresh page; a string says why the backend is unavailable there. */
async function trainIn(
  page: Page,
  backend: (typeof BACKENDS)[number],
  options: TrainingProbeOptions,
): Promise<TrainingProbeResult | string> {
  return page.evaluate(
    async ([name, opts]) => {
      const api = (window as unknown as { fedpeft: FedpeftWeb }).fedpeft;
      const report = await api.probeBackends();
      const candidate = report.candidates.find((c) => c.name === name);
      if (!candidate?.available) return candidate?.reason ?? 'not a browser backend';
      await api.useBackend(name);
      // WebGPU's synchronous reads fail on software adapters: derive PiCa's projectors on wasm (training-probe.ts).
      return api.runTrainingProbe(name === 'webgpu' ? { ...opts, deriveOn: 'wasm' } : opts);
    },
    [backend, options] as const,
  );
}
