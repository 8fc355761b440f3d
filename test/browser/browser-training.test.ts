import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import type { BackendReport } from '../../shared/tensor/backend.ts';
import { buildBrowserBundle, nodeOnlyInputs, PROBE_PAGE, type BrowserBundle } from '../../web/build.ts';
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
  type BundleServer,
  type ChromiumSession,
} from './launch.ts';

/**
 * fedpeft's web bundle in headless Chromium: a seeded PiCa training run of `test-gpt` on every browser backend
 * that exists here (wasm always; WebGL and WebGPU on SwiftShader when Chromium offers them), compared with the
 * same run in Node on wasm. Each backend gets its own page (a lost GPU device cannot spill into the next run);
 * the browser is launched once.
 */

const skip = chromiumSkipReason();
if (skip) console.warn(`[browser tests] skipped: ${skip}`);

const PROBE: TrainingProbeOptions = {
  model: 'test-gpt',
  method: 'pica',
  adapterConfig: { r: 8 },
  seed: 3,
  steps: 6,
  batchSize: 4,
  learningRate: 1e-2,
};

/**
 * How closely a browser run must reproduce Node's wasm run. Browser wasm is the same XNNPACK code as Node's
 * (measured: identical). GPU backends reorder float32 sums (measured: ~3e-6 on the loss, ~2e-7 on B after six
 * Adam steps); the bounds leave room for other GPUs without letting a wrong kernel through.
 */
const TOLERANCE: Record<string, { loss: number; shared: number }> = {
  wasm: { loss: 1e-6, shared: 1e-6 },
  webgl: { loss: 1e-4, shared: 1e-4 },
  webgpu: { loss: 1e-4, shared: 1e-4 },
};

type BrowserBackend = 'wasm' | 'webgl' | 'webgpu';

function maxSharedDiff(a: TrainingProbeResult, b: TrainingProbeResult): number {
  let d = 0;
  for (const [name, t] of Object.entries(b.shared)) {
    const other = a.shared[name];
    expect(other?.shape, name).toEqual(t.shape);
    t.values.forEach((v, i) => (d = Math.max(d, Math.abs(v - (other!.values[i] as number)))));
  }
  return d;
}

describe.skipIf(skip !== null)(
  `fedpeft web bundle in headless Chromium${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let bundle: BrowserBundle;
    let server: BundleServer;
    let browser: ChromiumSession;
    let report: BackendReport;
    let nodeRun: TrainingProbeResult;

    async function inPage<T>(body: (page: Page) => Promise<T>): Promise<{ value: T; errors: string[] }> {
      // The device check page: the join page (index.html) probes backends on load, which would race with this.
      const { page, errors } = await openFedpeftPage(browser, `${server.url}${PROBE_PAGE}`);
      try {
        return { value: await body(page), errors };
      } finally {
        await page.close();
      }
    }

    beforeAll(async () => {
      bundle = await buildBrowserBundle();
      server = await serveBundle(bundle);
      browser = await launchChromium({ webgpu: true });
      const probed = await inPage((page) =>
        page.evaluate(() => (window as unknown as { fedpeft: FedpeftWeb }).fedpeft.probeBackends()),
      );
      report = probed.value;
      console.info(
        `[browser tests] Chromium backends:\n${report.candidates
          .map((c) => `  ${c.available ? 'available  ' : 'unavailable'} ${c.name}: ${c.reason}`)
          .join('\n')}`,
      );
      await useBackend('wasm');
      nodeRun = await runTrainingProbe(PROBE);
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it('bundles without Node-only code and serves the page, the modules and the wasm binaries', async () => {
      expect(nodeOnlyInputs(bundle.inputs)).toEqual([]);
      expect(bundle.inputs).toContain('web/browser-entry.ts');
      expect(bundle.inputs.some((i) => i.endsWith('.node.ts'))).toBe(false);
      for (const name of [
        'index.html',
        'fedpeft-web.js',
        'tfjs-backend-webgl.js',
        'tfjs-backend-wasm-simd.wasm',
      ])
        expect(bundle.files.has(name), name).toBe(true);
      const wasm = await fetch(`${server.url}tfjs-backend-wasm-simd.wasm`);
      expect(wasm.headers.get('content-type')).toBe('application/wasm');
      expect((await fetch(`${server.url}missing.js`)).status).toBe(404);
    });

    it('reports every browser backend with a reason, and wasm is available', () => {
      expect(report.platform).toBe('browser');
      expect(report.candidates.map((c) => c.name)).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
      for (const c of report.candidates) expect(c.reason.length).toBeGreaterThan(5);
      expect(report.candidates.find((c) => c.name === 'wasm')?.available).toBe(true);
      expect(report.wasmSimd).toBe(true);
    });

    it('Node reference run: the loss goes down and nothing leaks', () => {
      expect(nodeRun.backend).toBe('wasm');
      expect(nodeRun.losses).toHaveLength(PROBE.steps!);
      expect(nodeRun.losses.at(-1)!).toBeLessThan(nodeRun.losses[0]! - 0.05);
      expect(nodeRun.tensorsAfter).toBe(nodeRun.tensorsBefore);
    });

    it.for<BrowserBackend>(['wasm', 'webgl', 'webgpu'])(
      'PiCa training on %s matches the Node wasm run',
      async (backend, ctx) => {
        const candidate = report.candidates.find((c) => c.name === backend)!;
        if (!candidate.available) {
          console.info(`[browser tests] ${backend} skipped: ${candidate.reason}`);
          ctx.skip(`${backend} unavailable in this Chromium: ${candidate.reason}`);
          return;
        }
        // WebGPU's synchronous reads are broken on SwiftShader (see web/training-probe.ts): derive on wasm.
        const options: TrainingProbeOptions = {
          ...PROBE,
          ...(backend === 'webgpu' ? { deriveOn: 'wasm' } : {}),
        };
        const { value: run, errors } = await inPage((page) =>
          page.evaluate(
            async ([name, opts]) => {
              const api = (window as unknown as { fedpeft: FedpeftWeb }).fedpeft;
              await api.useBackend(name);
              return api.runTrainingProbe(opts);
            },
            [backend, options] as const,
          ),
        );
        const lossDiff = Math.max(...run.losses.map((l, i) => Math.abs(l - (nodeRun.losses[i] as number))));
        console.info(
          `[browser tests] ran ${backend}: losses ${run.losses.map((l) => l.toFixed(4)).join(' ')}; ` +
            `step ms ${run.stepMs.map((t) => t.toFixed(0)).join(' ')} (Node wasm ${nodeRun.stepMs.map((t) => t.toFixed(0)).join(' ')}); ` +
            `vs Node: loss ${lossDiff.toExponential(1)}, shared B ${maxSharedDiff(run, nodeRun).toExponential(1)}`,
        );
        expect(errors).toEqual([]);
        expect(run.backend).toBe(backend);
        expect(run.tensorsAfter).toBe(run.tensorsBefore);
        expect(run.losses.at(-1)!).toBeLessThan(run.losses[0]! - 0.05);
        const tol = TOLERANCE[backend]!;
        run.losses.forEach((l, i) =>
          expect(Math.abs(l - nodeRun.losses[i]!), `step ${i}`).toBeLessThan(tol.loss),
        );
        expect(maxSharedDiff(run, nodeRun)).toBeLessThan(tol.shared);
        // The run changed B (it starts at zero), so agreement is not two untouched tensors agreeing.
        const moved = Math.max(...Object.values(run.shared).flatMap((t) => t.values.map(Math.abs)));
        expect(moved).toBeGreaterThan(10 * tol.shared);
      },
    );

    it('the Node-side tensors were all freed', () => {
      expect(tf.memory().numTensors).toBe(nodeRun.tensorsAfter);
    });
  },
);
