import { describe, expect, it } from 'vitest';
import type { Metafile } from 'esbuild';
import {
  buildBrowserBundle,
  ENTRY_FILE,
  importChain,
  nodeOnlyInputs,
  PROBE_PAGE,
  SAMPLE_TEXT_FILE,
  WEBGL_FILE,
} from './build.ts';
import { FedpeftError } from '../shared/errors.ts';

describe('web bundle build', () => {
  it('bundles the browser entry with its modules, the page and the wasm binaries, and no Node-only code', async () => {
    const bundle = await buildBrowserBundle({ minify: false });
    for (const name of [
      'index.html',
      ENTRY_FILE,
      WEBGL_FILE,
      'tfjs-backend-wasm-simd.wasm',
      'tfjs-backend-wasm.wasm',
    ])
      expect(bundle.files.has(name), name).toBe(true);
    expect(bundle.files.get('tfjs-backend-wasm-simd.wasm')!.contentType).toBe('application/wasm');
    expect(bundle.inputs).toEqual(
      expect.arrayContaining(['web/browser-entry.ts', 'shared/adapters/presets/pica.ts']),
    );
    expect(nodeOnlyInputs(bundle.inputs)).toEqual([]);
    const html = new TextDecoder().decode(bundle.files.get('index.html')!.body);
    expect(html).toContain(`"@tensorflow/tfjs-backend-webgl":"./${WEBGL_FILE}"`);
    expect(html).toContain(`src="./${ENTRY_FILE}"`);
    // index.html is the join page; the device check moved to its own page; the sample text is real prose.
    expect(html).toContain('window.fedpeft.mountJoinPage(document)');
    for (const id of ['file', 'use-sample', 'token', 'join', 'backends', 'losses', 'upload', 'contribution'])
      expect(html).toContain(`id="${id}"`);
    expect(new TextDecoder().decode(bundle.files.get(PROBE_PAGE)!.body)).toContain('runTrainingProbe');
    const sample = new TextDecoder().decode(bundle.files.get(SAMPLE_TEXT_FILE)!.body);
    expect(sample.startsWith('Call me Ishmael.')).toBe(true);
    expect(sample.length).toBeGreaterThan(10_000);
    expect(bundle.files.get(SAMPLE_TEXT_FILE)!.contentType).toContain('text/plain');
    // The browser client (runtime, trainer, IndexedDB store) is in the bundle, still without Node-only code.
    expect(bundle.inputs).toEqual(
      expect.arrayContaining([
        'client/runtime.ts',
        'client/trainer.ts',
        'client/browser/indexeddb-state-store.ts',
      ]),
    );
  });

  it('fails clearly when Node-only code would enter the bundle', async () => {
    const err = await buildBrowserBundle({
      minify: false,
      extraEntries: { 'shared/model-cache/file-lock.node.ts': 'bad.js' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FedpeftError);
    expect((err as FedpeftError).code).toBe('NODE_MODULE_IN_BROWSER_BUNDLE');
    expect((err as FedpeftError).message).toContain('file-lock.node.ts');
  });

  it('names Node-only inputs and the import chain that pulled them in', () => {
    expect(
      nodeOnlyInputs([
        'shared/tensor/tf.ts',
        'shared/pretrain/pretrain-run.node.ts',
        'node_modules/webgpu/index.js',
        'node_modules/@tensorflow/tfjs-node/dist/index.js',
        'node_modules/@tensorflow/tfjs-core/dist/index.js',
      ]).map((f) => f.input),
    ).toEqual([
      'shared/pretrain/pretrain-run.node.ts',
      'node_modules/webgpu/index.js',
      'node_modules/@tensorflow/tfjs-node/dist/index.js',
    ]);
    const meta = {
      inputs: {
        'a.ts': { bytes: 1, imports: [{ path: 'b.ts', kind: 'import-statement' }] },
        'b.ts': { bytes: 1, imports: [{ path: 'c.node.ts', kind: 'import-statement' }] },
        'c.node.ts': { bytes: 1, imports: [] },
      },
      outputs: { 'out.js': { bytes: 1, inputs: {}, imports: [], exports: [], entryPoint: 'a.ts' } },
    } as unknown as Metafile;
    expect(importChain(meta, 'c.node.ts')).toEqual(['a.ts', 'b.ts', 'c.node.ts']);
  });
});
