/**
 * docs/signature-vectors.json is what fedpeft's coordinator computes today (regenerated, it is unchanged), and
 * an independent numpy implementation written from docs/protocol.md (signature_reference.py) reproduces every
 * case within the coordinator's acceptance — so a client built from the docs is admitted and sampled.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../shared/tensor/tf.ts';
import { REFERENCE_PYTHON } from './python.ts';
import { buildSignatureVectors, VECTORS_PATH, type SignatureVectors } from './signature-vectors.ts';

const REFERENCE = join(import.meta.dirname, 'signature_reference.py');
const committed = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as SignatureVectors;

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('signature test vectors', () => {
  it('covers every method with derived state, each with a non-empty signature', () => {
    const methods = committed.cases.map((c) => c.method);
    expect(methods).toContain('pica');
    expect(new Set(methods).size).toBe(methods.length);
    for (const c of committed.cases) expect(c.signature.length).toBeGreaterThan(0);
  });

  it("match the coordinator's own signatures (regenerate with `npx tsx test/reference/signature-vectors.ts`)", () => {
    const fresh = buildSignatureVectors();
    const strip = (v: SignatureVectors) => ({ ...v, cases: v.cases.map((c) => ({ ...c, signature: [] })) });
    expect(strip(fresh)).toEqual(strip(committed));
    for (const [i, c] of fresh.cases.entries()) {
      expect(c.signature.length, c.method).toBe(committed.cases[i]!.signature.length);
      expect(maxAbsDiff(c.signature, committed.cases[i]!.signature), c.method).toBeLessThanOrEqual(1e-6);
    }
  });

  it('an independent numpy implementation reproduces every case from the documented construction', () => {
    const out = JSON.parse(
      execFileSync(REFERENCE_PYTHON, [REFERENCE, VECTORS_PATH], { encoding: 'utf8' }),
    ) as {
      cases: Array<{ method: string; names: string[]; signature: number[] }>;
    };
    expect(out.cases.map((c) => c.method)).toEqual(committed.cases.map((c) => c.method));
    for (const [i, ref] of out.cases.entries()) {
      const expected = committed.cases[i]!;
      expect(ref.names, expected.method).toEqual(expected.derived.map((d) => d.name));
      expect(ref.signature.length, expected.method).toBe(expected.signature.length);
      const scale = Math.max(1, ...expected.signature.map(Math.abs));
      // Far inside the coordinator's acceptance (tolerance x scale): float32 rounding, not a near miss.
      expect(maxAbsDiff(ref.signature, expected.signature), expected.method).toBeLessThanOrEqual(
        1e-5 * scale,
      );
    }
  });

  it('a wrong base gives a different PiCa signature (the vectors pin the base, not just the seed)', () => {
    const pica = structuredClone(committed.cases.find((c) => c.method === 'pica')!);
    const [name, kernel] = Object.entries(pica.baseKernels!)[0]!;
    const data = new Float32Array(Buffer.from(kernel.float32LeBase64, 'base64').buffer.slice(0));
    for (let i = 0; i < data.length; i++) data[i] = data[i]! * (1 + 0.5 * Math.sin(i));
    pica.baseKernels![name] = {
      shape: kernel.shape,
      float32LeBase64: Buffer.from(data.buffer).toString('base64'),
    };
    const altered = { ...committed, cases: [pica] };
    const out = JSON.parse(
      execFileSync(REFERENCE_PYTHON, [REFERENCE, '-'], { encoding: 'utf8', input: JSON.stringify(altered) }),
    ) as { cases: Array<{ signature: number[] }> };
    const scale = Math.max(1, ...pica.signature.map(Math.abs));
    expect(maxAbsDiff(out.cases[0]!.signature, pica.signature)).toBeGreaterThan(committed.tolerance * scale);
  });
});
