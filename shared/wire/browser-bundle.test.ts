import { describe, it, expect } from 'vitest';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

/**
 * The wire layer must run in browsers: bundle it for the browser platform (no Node built-ins may be pulled
 * in) and run a chunked transfer plus a frame round-trip in a bare VM context with no `Buffer`, `process`
 * or `require`, so a hidden dependency on Node APIs fails here.
 */
describe('shared/wire in a browser bundle', () => {
  it('bundles for the browser and works without Node globals', async () => {
    const entry = `
      import { OutgoingTransfer, TransferReceiver } from './chunking.ts';
      import { encodeFrame, decodeFrame } from './messages.ts';
      const data = new Float32Array(5000).map((_, i) => i / 7);
      const out = OutgoingTransfer.fromHostTensors('b-1', new Map([['w', { shape: [50, 100], data }]]), { chunkBytes: 4096 });
      const manifestFrame = encodeFrame({ message: { kind: 'transferManifest', body: out.manifest } }, { from: 'client' });
      const got = decodeFrame(manifestFrame.slice().buffer, { from: 'client' });
      if (got.message.kind !== 'transferManifest') throw new Error('wrong kind');
      const rx = new TransferReceiver(got.message.body);
      for (const c of out.chunks()) {
        const f = decodeFrame(encodeFrame({ message: { kind: 'tensorChunk', body: c } }), { from: 'client' });
        if (f.message.kind !== 'tensorChunk') throw new Error('wrong kind');
        rx.accept(f.message.body);
      }
      const back = rx.hostTensors().get('w').data;
      let same = back.length === data.length;
      for (let i = 0; i < data.length; i++) same = same && back[i] === data[i];
      globalThis.result = { same, chunks: out.chunkCount, hasBuffer: typeof Buffer !== 'undefined', bytesType: f0().constructor.name };
      function f0() { return encodeFrame({ message: { kind: 'goodbye', body: {} } }); }
    `;
    const result = await build({
      stdin: { contents: entry, resolveDir: fileURLToPath(new URL('.', import.meta.url)), loader: 'ts' },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    const context: Record<string, unknown> = {
      TextEncoder,
      TextDecoder,
      console,
    };
    vm.createContext(context);
    vm.runInContext(code, context);
    expect(context['result']).toEqual({ same: true, chunks: 5, hasBuffer: false, bytesType: 'Uint8Array' });
  });
});
