/**
 * Backend selection: tfjs-node-gpu -> tfjs-node -> webgpu -> wasm -> cpu (browser: webgpu -> webgl -> wasm -> cpu).
 *
 * Every candidate is tried behind a guard, because on most machines some of them cannot exist: tfjs-node and
 * tfjs-node-gpu are optionalDependencies whose install script downloads libtensorflow (it fails without
 * internet and npm silently leaves the package out), WebGPU needs an adapter, and the wasm binary may fail to
 * instantiate. The chosen backend and the reason every other one was passed over are reported, so a user never
 * has to guess why training is slow.
 */
import { tf } from './tf.ts';
import { FedpeftError } from '../errors.ts';

export const BACKEND_NAMES = ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface CandidateReport {
  name: BackendName;
  /** The name the backend is registered under inside tfjs (`tensorflow`, `wasm`, ...). */
  tfBackend: string;
  available: boolean;
  /** Why it is available or not, in words a person can act on. */
  reason: string;
}

export interface BackendReport {
  chosen: BackendName;
  forced: boolean;
  candidates: CandidateReport[];
  tfjsVersion: string;
  wasmSimd: boolean | null;
  wasmThreads: boolean | null;
  platform: 'node' | 'browser';
}

export interface SelectBackendOptions {
  /** Force one backend (also `FEDPEFT_BACKEND`); selection fails with a clear error if it is unavailable. */
  force?: string | undefined;
  /** Probe every candidate, even after one was chosen (what `fedpeft doctor` wants). */
  probeAll?: boolean;
}

const isBrowser = typeof window !== 'undefined' && typeof document !== 'undefined';

/** Order of preference on this platform. */
export function candidateOrder(): BackendName[] {
  return isBrowser
    ? ['webgpu', 'webgl', 'wasm', 'cpu']
    : ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'wasm', 'cpu'];
}

const NOT_INSTALLED_HINT: Record<string, string> = {
  '@tensorflow/tfjs-node':
    'optional; its install script downloads libtensorflow, which fails without internet access',
  '@tensorflow/tfjs-node-gpu':
    'optional; its install script downloads libtensorflow with CUDA, which fails without internet access',
  webgpu: "optional; `npm install webgpu` adds Dawn's WebGPU for Node",
};

function describeImportError(pkg: string, err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') {
    const hint = NOT_INSTALLED_HINT[pkg];
    return `package ${pkg} is not installed${hint ? ` (${hint})` : ''}`;
  }
  return `${pkg} failed to load: ${firstLine(e.message ?? String(err))}`;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/** Import a module by a name TypeScript must not resolve statically (optional packages may be absent). */
async function optionalImport(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ name);
}

interface Probe {
  tfBackend: string;
  /** Makes the backend registrable; resolves to a reason string when it cannot exist here. */
  prepare(): Promise<string | null>;
}

async function ensureWebGpuNavigator(): Promise<string | null> {
  const g = globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } };
  if (g.navigator?.gpu) {
    const adapter = await g.navigator.gpu.requestAdapter().catch(() => null);
    return adapter ? null : 'navigator.gpu.requestAdapter() returned no adapter';
  }
  if (isBrowser) return 'this browser exposes no navigator.gpu (WebGPU disabled or unsupported)';
  // Node: Dawn through the optional `webgpu` package. Imported by a computed specifier so browser bundles
  // never see this Node-only module.
  const nodeWebGpu = (await optionalImport(new URL('./node-webgpu.ts', import.meta.url).href)) as {
    installNodeWebGpu(): Promise<{ ok: true; adapter: string } | { ok: false; reason: string }>;
  };
  const setup = await nodeWebGpu.installNodeWebGpu();
  return setup.ok ? null : setup.reason;
}

/**
 * Why WebGPU is never picked automatically in Node: tfjs-backend-webgpu's synchronous reads (`dataSync`, used
 * by training, SVD and evaluation) need an OffscreenCanvas, which Node lacks, and the adapters Node finds on
 * servers without a GPU are software renderers far slower than wasm. Forcing it (`--backend webgpu`) is for
 * testing the WebGPU code path.
 */
const NODE_WEBGPU_NOT_AUTO =
  'not chosen automatically in Node: tfjs-webgpu synchronous reads need OffscreenCanvas (absent in Node); force with --backend webgpu to test the WebGPU path';

const PROBES: Record<BackendName, Probe> = {
  'tfjs-node-gpu': {
    tfBackend: 'tensorflow',
    async prepare() {
      if (isBrowser) return 'not available in a browser';
      try {
        await optionalImport('@tensorflow/tfjs-node-gpu');
        return null;
      } catch (err) {
        return describeImportError('@tensorflow/tfjs-node-gpu', err);
      }
    },
  },
  'tfjs-node': {
    tfBackend: 'tensorflow',
    async prepare() {
      if (isBrowser) return 'not available in a browser';
      try {
        await optionalImport('@tensorflow/tfjs-node');
        return null;
      } catch (err) {
        return describeImportError('@tensorflow/tfjs-node', err);
      }
    },
  },
  webgpu: {
    tfBackend: 'webgpu',
    async prepare() {
      const why = await ensureWebGpuNavigator();
      if (why) return why;
      await import('@tensorflow/tfjs-backend-webgpu');
      return null;
    },
  },
  webgl: {
    tfBackend: 'webgl',
    async prepare() {
      if (!isBrowser) return 'WebGL is only used in a browser';
      await optionalImport('@tensorflow/tfjs-backend-webgl');
      return null;
    },
  },
  wasm: {
    tfBackend: 'wasm',
    async prepare() {
      await import('@tensorflow/tfjs-backend-wasm');
      return null;
    },
  },
  cpu: {
    tfBackend: 'cpu',
    prepare() {
      return Promise.resolve(null);
    },
  },
};

async function probe(name: BackendName): Promise<CandidateReport> {
  const p = PROBES[name];
  let reason: string | null;
  try {
    reason = await p.prepare();
  } catch (err) {
    reason = `failed to load: ${firstLine((err as Error).message ?? String(err))}`;
  }
  if (reason) return { name, tfBackend: p.tfBackend, available: false, reason };
  if (!tf.findBackendFactory(p.tfBackend)) {
    return {
      name,
      tfBackend: p.tfBackend,
      available: false,
      reason: `no '${p.tfBackend}' backend registered`,
    };
  }
  // Initialise it for real: a backend that registers but cannot start (e.g. wasm failing to instantiate) is not available.
  const previous = tfBackendIfAny();
  let ok = false;
  let initError = '';
  try {
    ok = await tf.setBackend(p.tfBackend);
    if (ok) await tf.ready();
  } catch (err) {
    initError = firstLine((err as Error).message ?? String(err));
  }
  if (previous && previous !== p.tfBackend) await tf.setBackend(previous);
  if (!ok) {
    return {
      name,
      tfBackend: p.tfBackend,
      available: false,
      reason: `backend failed to initialise${initError ? `: ${initError}` : ''}`,
    };
  }
  return { name, tfBackend: p.tfBackend, available: true, reason: availableReason(name) };
}

function tfBackendIfAny(): string | null {
  try {
    return tf.engine().backendName ?? null;
  } catch {
    return null;
  }
}

function availableReason(name: BackendName): string {
  switch (name) {
    case 'tfjs-node-gpu':
      return 'native TensorFlow with CUDA';
    case 'tfjs-node':
      return 'native TensorFlow (CPU)';
    case 'webgpu':
      return 'WebGPU adapter found';
    case 'webgl':
      return 'WebGL context available';
    case 'wasm':
      return 'WebAssembly backend (XNNPACK kernels)';
    case 'cpu':
      return 'pure-JavaScript reference backend (slow; always available)';
  }
}

function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

/** Parse a user-supplied backend name (flag or env), with a message that lists the valid names. */
export function parseBackendName(raw: string): BackendName {
  const s = raw.trim().toLowerCase();
  const alias: Record<string, BackendName> = {
    'node-gpu': 'tfjs-node-gpu',
    node: 'tfjs-node',
    tensorflow: 'tfjs-node',
  };
  const name = alias[s] ?? s;
  if (!isBackendName(name)) {
    throw new FedpeftError(
      'UNKNOWN_BACKEND',
      `Unknown backend '${raw}'. Valid backends: ${BACKEND_NAMES.join(', ')}.`,
    );
  }
  return name;
}

let current: BackendReport | null = null;

/** The report of the last successful selection, or null before any. */
export function currentBackend(): BackendReport | null {
  return current;
}

/**
 * Choose and activate a backend. Forced (option or `FEDPEFT_BACKEND`): that one or a clear error. Otherwise the
 * first available in `candidateOrder()`.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendReport> {
  const forcedRaw = options.force ?? (isBrowser ? undefined : process.env.FEDPEFT_BACKEND);
  const forced = forcedRaw ? parseBackendName(forcedRaw) : null;
  const order = candidateOrder();
  const candidates: CandidateReport[] = [];
  let chosen: CandidateReport | null = null;

  for (const name of order) {
    if (chosen && !options.probeAll) break;
    if (forced && name !== forced && !options.probeAll) continue;
    const skipInAuto = !forced && !isBrowser && name === 'webgpu';
    if (skipInAuto && !options.probeAll) {
      candidates.push({
        name,
        tfBackend: PROBES[name].tfBackend,
        available: false,
        reason: NODE_WEBGPU_NOT_AUTO,
      });
      continue;
    }
    const report = await probe(name);
    if (skipInAuto && report.available) {
      report.reason += ` (${NODE_WEBGPU_NOT_AUTO})`;
      candidates.push(report);
      continue;
    }
    if (forced && name !== forced && report.available)
      report.reason += ' (not chosen: another backend was forced)';
    candidates.push(report);
    if (!chosen && report.available && (!forced || name === forced)) chosen = report;
  }
  if (forced && !order.includes(forced)) {
    throw new FedpeftError(
      'BACKEND_UNAVAILABLE',
      `Backend '${forced}' cannot run on this platform (${isBrowser ? 'browser' : 'node'}).`,
    );
  }
  if (!chosen) {
    const why = candidates.map((c) => `  ${c.name}: ${c.reason}`).join('\n');
    throw new FedpeftError(
      'BACKEND_UNAVAILABLE',
      forced
        ? `Backend '${forced}' was forced (--backend / FEDPEFT_BACKEND) but is unavailable:\n${why}`
        : `No TensorFlow.js backend is available:\n${why}`,
    );
  }
  await tf.setBackend(chosen.tfBackend);
  await tf.ready();
  const wasmProbe = candidates.find((c) => c.name === 'wasm');
  const wasmReady = wasmProbe?.available === true;
  current = {
    chosen: chosen.name,
    forced: forced !== null,
    candidates,
    tfjsVersion: tf.version_core,
    wasmSimd: wasmReady ? Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) : null,
    wasmThreads: wasmReady ? Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) : null,
    platform: isBrowser ? 'browser' : 'node',
  };
  return current;
}

/** Activate a named backend for tests and benchmarks (cpu reference vs wasm) without the full report. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(PROBES[name].tfBackend))) {
    throw new FedpeftError('BACKEND_UNAVAILABLE', `backend ${name} failed to initialise`);
  }
  await tf.ready();
}
