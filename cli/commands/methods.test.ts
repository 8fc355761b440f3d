import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../shared/tensor/tf.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { createModel } from '../../shared/model/zoo.ts';
import { attachAdapter, listAdapterMethods } from '../../shared/adapters/index.ts';
import { MODEL_NAMES } from '../../shared/model/zoo.ts';
import { describeMethods, formatMethodsTable, METHODS_TABLE_COLUMNS } from './methods.ts';

describe('fedpeft methods', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('measures every method on test-gpt (d = 32, 2 layers) from the live adapters', () => {
    const reports = describeMethods('test-gpt');
    expect(reports.map((r) => r.method)).toEqual(listAdapterMethods().map((m) => m.name));
    const by = new Map(reports.map((r) => [r.method, r.summary!]));
    // cLA: B [16, 32] on q and v of 2 layers. LoRA r = 8: A [32, 8] + B [8, 32] on the same 4 layers.
    expect(by.get('cla')!.trainableParams).toBe(4 * 16 * 32);
    expect(by.get('lora')!.trainableParams).toBe(4 * (32 * 8 + 8 * 32));
    expect(by.get('ffa-lora')!.bytesPerRound).toBe(4 * 8 * 32 * 4);
    // PiCa: one B per role (q, k, v, down: [16, 32]; up: [16, 128]) whatever the number of layers.
    expect(by.get('pica')!.sharedParams).toBe(4 * 16 * 32 + 16 * 128);
    expect(by.get('pica')!.derived.length).toBe(10);
    expect(by.get('fedsa-lora')!.private.length).toBe(4);
    expect(formatMethodsTable('test-gpt', reports, { wide: true })).toMatch(
      /role\.up\.B \[16x128\] \(nested-prefix-mean\)/,
    );
  });

  const widest = (text: string) => Math.max(...text.split('\n').map((l) => [...l].length));

  it(`fits ${METHODS_TABLE_COLUMNS} columns by default on every model, one row per method; --wide lists tensors`, () => {
    for (const model of MODEL_NAMES) {
      const reports = describeMethods(model);
      const table = formatMethodsTable(model, reports);
      expect(widest(table), model).toBeLessThanOrEqual(METHODS_TABLE_COLUMNS);
      for (const r of reports) expect(table).toContain(`│ ${r.method} `);
      expect(table).toContain('--wide');
    }
    const reports = describeMethods('tiny-gpt');
    const narrow = formatMethodsTable('tiny-gpt', reports);
    const wide = formatMethodsTable('tiny-gpt', reports, { wide: true });
    // The wide table is the one that names tensors, and it needs more than the default width to do so.
    expect(narrow).not.toContain('layers.*');
    expect(wide).toContain('layers.*.attn.q.B [8x96] x2 (weighted-mean)');
    expect(widest(wide)).toBeGreaterThan(METHODS_TABLE_COLUMNS);
    // The default table still carries the numbers: PiCa's 10 derived projectors and its aggregation rule.
    expect(narrow).toMatch(/│ pica +│ [\d,]+ +│ [\d.]+ KiB +│ 5 +│ nested-prefix-mean +│ - +│ 10 /);
  });

  it('reports methods that cannot attach to a model instead of failing', () => {
    const reports = describeMethods('mlp-classifier');
    const cla = reports.find((r) => r.method === 'cla')!;
    expect(cla.summary).toBeUndefined();
    expect(cla.error).toMatch(/no layer with role 'q', 'v'/);
  });

  it('every method with its defaults equals the base GPT exactly at step 0', () => {
    const model = createModel('test-gpt', { seed: 2 });
    const ids = tf.tensor2d(
      Int32Array.from({ length: 2 * 32 }, (_, i) => (i * 37) % 256),
      [2, 32],
      'int32',
    );
    const batch = { inputs: ids, targets: ids };
    const lossOf = () => tf.tidy(() => model.loss(batch).dataSync()[0]);
    const base = lossOf();
    const before = tf.memory().numTensors;
    for (const m of listAdapterMethods()) {
      const adapter = attachAdapter(model, m.name, {}, { seed: 1 });
      expect([m.name, lossOf()]).toEqual([m.name, base]);
      adapter.detach();
    }
    lossOf();
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
    model.dispose();
  });
});
