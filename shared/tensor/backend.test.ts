import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseBackendName, selectBackend } from './backend.ts';
import { tf } from './tf.ts';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/fedpeft.js', import.meta.url));

describe('backend selection', () => {
  it('probes every candidate and chooses the first available one, with reasons', async () => {
    const report = await selectBackend({ probeAll: true });
    expect(report.candidates.map((c) => c.name)).toEqual([
      'tfjs-node-gpu',
      'tfjs-node',
      'webgpu',
      'wasm',
      'cpu',
    ]);
    for (const c of report.candidates) expect(c.reason.length).toBeGreaterThan(5);
    // WebGPU in Node is probed and reported but never auto-chosen (see NODE_WEBGPU_NOT_AUTO in backend.ts).
    const firstAvailable = report.candidates.find((c) => c.available && c.name !== 'webgpu');
    const webgpu = report.candidates.find((c) => c.name === 'webgpu');
    if (webgpu?.available) expect(webgpu.reason).toMatch(/not chosen automatically in Node/);
    expect(report.chosen).toBe(firstAvailable?.name);
    expect(tf.getBackend()).toBe(firstAvailable?.tfBackend);
    // cpu is always there; wasm must work wherever fedpeft is installed from npm.
    expect(report.candidates.find((c) => c.name === 'cpu')?.available).toBe(true);
    expect(report.candidates.find((c) => c.name === 'wasm')?.available).toBe(true);
  });

  it('forces a backend and fails clearly when the forced one is unavailable', async () => {
    const forced = await selectBackend({ force: 'cpu' });
    expect(forced.chosen).toBe('cpu');
    expect(forced.forced).toBe(true);
    expect(tf.getBackend()).toBe('cpu');
    const missing = (await selectBackend({ probeAll: true })).candidates.find((c) => !c.available);
    if (missing) {
      await expect(selectBackend({ force: missing.name })).rejects.toThrow(/forced .* but is unavailable/);
    }
  });

  it('rejects unknown names with the list of valid ones', () => {
    expect(() => parseBackendName('tpu')).toThrow(
      /Valid backends: tfjs-node-gpu, tfjs-node, webgpu, webgl, wasm, cpu/,
    );
    expect(parseBackendName('NODE')).toBe('tfjs-node');
  });
});

describe('fedpeft doctor', () => {
  it('--json reports the chosen backend and a reason for every candidate', async () => {
    const { stdout } = await run(process.execPath, [bin, 'doctor', '--json'], { timeout: 60_000 });
    const report = JSON.parse(stdout) as {
      chosen: string;
      candidates: { name: string; available: boolean; reason: string }[];
    };
    expect(report.candidates.length).toBe(5);
    for (const c of report.candidates) {
      expect(typeof c.available).toBe('boolean');
      expect(c.reason).toBeTruthy();
    }
    // On machines without the native TensorFlow packages or a WebGPU adapter (like CI here) that is wasm.
    const native = report.candidates.filter((c) => ['tfjs-node-gpu', 'tfjs-node', 'webgpu'].includes(c.name));
    if (native.every((c) => !c.available)) expect(report.chosen).toBe('wasm');
  });

  it('FEDPEFT_BACKEND forces a backend; an unavailable one exits 2 with one clear line', async () => {
    const { stdout } = await run(process.execPath, [bin, 'doctor', '--json'], {
      env: { ...process.env, FEDPEFT_BACKEND: 'cpu' },
      timeout: 60_000,
    });
    expect((JSON.parse(stdout) as { chosen: string }).chosen).toBe('cpu');
    const err = await run(process.execPath, [bin, '--backend', 'no-such', 'doctor'], {
      timeout: 60_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toMatch(/^fedpeft: Unknown backend 'no-such'/);
  });
});
