import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadCorpus } from './corpora.ts';
import { partitionCorpus, type Partition, type PartitionSource } from './partition.ts';
import type { PartitionOptionsInput } from './partition-options.ts';
import { entropyBits, summarizePartition } from './partition-summary.ts';
import type { TextDocument } from './text-document.ts';

/** Every document is in exactly one split of one client, or listed as dropped — nothing lost, nothing doubled. */
function expectDisjointAndComplete(source: PartitionSource, p: Partition): void {
  const seen = new Map<string, number>();
  const bump = (id: string) => seen.set(id, (seen.get(id) ?? 0) + 1);
  for (const c of p.clients) for (const d of [...c.train, ...c.validation, ...c.test]) bump(d.id);
  for (const d of p.dropped) d.documentIds.forEach(bump);
  expect(seen.size).toBe(source.documents.length);
  for (const d of source.documents) expect(seen.get(d.id)).toBe(1);
  for (const c of p.clients) {
    expect(c.train.length).toBeGreaterThanOrEqual(1);
    if (p.options.split.validation > 0) expect(c.validation.length).toBeGreaterThanOrEqual(1);
    if (p.options.split.test > 0) expect(c.test.length).toBeGreaterThanOrEqual(1);
  }
  expect(new Set(p.clients.map((c) => c.clientId)).size).toBe(p.clients.length);
}

const fingerprint = (p: Partition): string[][] =>
  p.clients.map((c) => [
    c.clientId,
    ...[c.train, c.validation, c.test].map((s) => s.map((d) => d.id).join(',')),
  ]);

function syntheticCorpus(labels: string[], groups: number): PartitionSource {
  const documents: TextDocument[] = labels.map((label, i) => ({
    id: `d${i}`,
    text: `document ${i}`,
    attributes: { label, group: `g${i % groups}` },
  }));
  return { name: 'synthetic', documents, labelAttribute: 'label' };
}

const spam = loadCorpus('spam');
const sotu = loadCorpus('sotu');
const moby = loadCorpus('moby-dick');

const SCHEMES: [string, PartitionSource, PartitionOptionsInput][] = [
  ['sotu natural by president', sotu, { kind: 'natural', by: 'president' }],
  ['sotu natural by party', sotu, { kind: 'natural', by: 'party' }],
  ['sotu natural, 5 largest presidents', sotu, { kind: 'natural', by: 'president', maxClients: 5 }],
  ['spam natural by group', spam, { kind: 'natural', by: 'group' }],
  ['spam iid', spam, { kind: 'iid', clients: 20 }],
  ['spam dirichlet 0.1', spam, { kind: 'dirichlet', clients: 20, alpha: 0.1 }],
  ['sotu dirichlet by party', sotu, { kind: 'dirichlet', clients: 6, alpha: 0.5 }],
  ['spam quantity dirichlet', spam, { kind: 'quantity', clients: 30, alpha: 0.3 }],
  [
    'moby quantity power-law',
    moby,
    { kind: 'quantity', clients: 8, distribution: 'power-law', exponent: 1.5 },
  ],
  ['moby iid', moby, { kind: 'iid', clients: 7, split: { validation: 0.2, test: 0 } }],
];

describe('partitions of the real corpora', () => {
  it.each(SCHEMES)('%s: disjoint, complete, seeded', (_name, source, options) => {
    const a = partitionCorpus(source, { ...options, seed: 11 });
    expectDisjointAndComplete(source, a);
    expect(fingerprint(partitionCorpus(source, { ...options, seed: 11 }))).toEqual(fingerprint(a));
    expect(fingerprint(partitionCorpus(source, { ...options, seed: 12 }))).not.toEqual(fingerprint(a));
  });

  it('natural by president: one client per president with >= 3 speeches; the others dropped with a warning', () => {
    const p = partitionCorpus(sotu, { kind: 'natural', by: 'president' });
    const counts = new Map<string, number>();
    for (const d of sotu.documents)
      counts.set(d.attributes.president ?? '', (counts.get(d.attributes.president ?? '') ?? 0) + 1);
    const small = [...counts].filter(([, n]) => n < 3).map(([name]) => name);
    expect(small.length).toBeGreaterThan(0);
    expect(p.clients.map((c) => c.clientId)).toEqual([...counts.keys()].filter((n) => !small.includes(n)));
    expect(p.dropped.map((d) => d.clientId).sort()).toEqual([...small].sort());
    expect(p.warnings).toHaveLength(small.length);
    expect(p.clients[0]?.clientId).toBe('George Washington');
    for (const c of p.clients)
      for (const d of [...c.train, ...c.validation, ...c.test])
        expect(d.attributes.president).toBe(c.clientId);
    expect(() => partitionCorpus(sotu, { kind: 'natural', by: 'president', onTooSmall: 'error' })).toThrow(
      /has 1 document\(s\), fewer than the minimum 3/,
    );
  });

  it('natural with maxClients keeps the largest groups and documents the rest as dropped', () => {
    const p = partitionCorpus(spam, { kind: 'natural', by: 'group', maxClients: 2 });
    expect(p.clients.map((c) => c.clientId)).toEqual(['easy-ham-1', 'easy-ham-2']);
    expect(p.dropped.map((d) => [d.clientId, d.documentIds.length])).toEqual([
      ['hard-ham-1', 250],
      ['spam-1', 500],
      ['spam-2', 1396],
    ]);
  });

  it('Dirichlet label skew: alpha=0.1 is far below IID label entropy, alpha=100 is close to it', () => {
    const meanEntropy = (options: PartitionOptionsInput) =>
      summarizePartition(partitionCorpus(spam, { ...options, seed: 3 })).meanLabelEntropyBits;
    const pooled = entropyBits([4150, 1896]);
    const iid = meanEntropy({ kind: 'iid', clients: 20 });
    const skewed = meanEntropy({ kind: 'dirichlet', clients: 20, alpha: 0.1 });
    const mild = meanEntropy({ kind: 'dirichlet', clients: 20, alpha: 100 });
    expect(iid).toBeGreaterThan(pooled - 0.02);
    expect(skewed).toBeLessThan(0.4 * iid);
    expect(mild).toBeGreaterThan(iid - 0.05);
  });

  it('quantity skew: client sizes are unequal (IID is not), and labels stay mixed', () => {
    const sizes = (p: Partition) =>
      p.clients.map((c) => c.train.length + c.validation.length + c.test.length);
    const q = sizes(partitionCorpus(spam, { kind: 'quantity', clients: 20, alpha: 0.3, seed: 5 }));
    const iid = sizes(partitionCorpus(spam, { kind: 'iid', clients: 20, seed: 5 }));
    expect(Math.max(...iid) - Math.min(...iid)).toBeLessThanOrEqual(1);
    expect(Math.max(...q) / Math.min(...q)).toBeGreaterThan(10);
    expect(q.reduce((a, b) => a + b, 0)).toBe(6046);
  });

  it('rejects undefined schemes with errors a person can act on', () => {
    expect(() => partitionCorpus(moby, { kind: 'dirichlet', clients: 3 })).toThrow(/no labels/);
    expect(() => partitionCorpus(sotu, { kind: 'natural', by: 'color' })).toThrow(
      /no attribute 'color'.*president/,
    );
    expect(() => partitionCorpus(moby, { kind: 'quantity', clients: 100 })).toThrow(
      /cannot give 100 clients/,
    );
    expect(() => partitionCorpus(sotu, { kind: 'iid', clients: 0 })).toThrow(/clients must be >= 1/);
    expect(() => partitionCorpus(sotu, { kind: 'iid', split: { validation: 0.5, test: 0.5 } })).toThrow(
      /sum < 1/,
    );
  });
});

describe('partition invariants (property-based, synthetic corpora)', () => {
  const corpusArb = fc
    .tuple(
      fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 120 }),
      fc.integer({ min: 1, max: 9 }),
    )
    .map(([labels, groups]) => syntheticCorpus(labels, groups));
  const optionsArb: fc.Arbitrary<PartitionOptionsInput> = fc.oneof(
    fc.record({ kind: fc.constant('iid' as const), clients: fc.integer({ min: 1, max: 12 }) }),
    fc.record({
      kind: fc.constant('dirichlet' as const),
      clients: fc.integer({ min: 1, max: 12 }),
      alpha: fc.double({ min: 0.01, max: 50, noNaN: true }),
      maxAttempts: fc.constant(5),
    }),
    fc.record({
      kind: fc.constant('quantity' as const),
      clients: fc.integer({ min: 1, max: 5 }),
      distribution: fc.constantFrom('dirichlet' as const, 'power-law' as const),
      alpha: fc.double({ min: 0.05, max: 10, noNaN: true }),
    }),
    fc.record({ kind: fc.constant('natural' as const), by: fc.constant('group') }),
  );
  const splitArb = fc.record({
    validation: fc.constantFrom(0, 0.1, 0.25),
    test: fc.constantFrom(0, 0.1, 0.3),
  });

  it('every document is in exactly one client split or documented as dropped; same seed, same partition', () => {
    fc.assert(
      fc.property(corpusArb, optionsArb, splitArb, fc.nat(1000), (source, options, split, seed) => {
        let p: Partition;
        try {
          p = partitionCorpus(source, { ...options, split, seed });
        } catch (err) {
          // The only allowed failures are the documented "too few documents" ones.
          expect((err as { code?: string }).code).toMatch(/^(NO_CLIENTS|TOO_MANY_CLIENTS)$/);
          return;
        }
        expectDisjointAndComplete(source, p);
        expect(fingerprint(partitionCorpus(source, { ...options, split, seed }))).toEqual(fingerprint(p));
        const min = 1 + (split.validation > 0 ? 1 : 0) + (split.test > 0 ? 1 : 0);
        for (const c of p.clients)
          expect(c.train.length + c.validation.length + c.test.length).toBeGreaterThanOrEqual(min);
        expect(p.warnings.length).toBeGreaterThanOrEqual(p.dropped.length);
      }),
      { numRuns: 150 },
    );
  });
});
