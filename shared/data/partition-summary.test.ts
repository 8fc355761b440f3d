import { describe, expect, it } from 'vitest';
import { partitionCorpus, type PartitionSource } from './partition.ts';
import { entropyBits, summarizePartition } from './partition-summary.ts';
import { formatPartitionTable } from './partition-summary-table.ts';

const source: PartitionSource = {
  name: 'toy',
  labelAttribute: 'label',
  documents: Array.from({ length: 12 }, (_, i) => ({
    id: `d${i}`,
    text: i % 2 ? 'é'.repeat(i) : 'x'.repeat(i), // 'é' is 2 UTF-8 bytes
    attributes: { label: i < 6 ? 'spam' : 'ham', owner: i < 9 ? 'alice' : i < 11 ? 'bob' : 'carol' },
  })),
};

describe('summarizePartition', () => {
  it('counts documents, UTF-8 bytes and labels per client and split; reports drops', () => {
    const p = partitionCorpus(source, { kind: 'natural', by: 'owner', split: { validation: 0, test: 0.2 } });
    const s = summarizePartition(p);
    expect(s.clients.map((c) => c.clientId)).toEqual(['alice', 'bob']); // carol has 1 document < 2
    const alice = s.clients[0];
    expect(alice?.documents).toEqual({ train: 7, validation: 0, test: 2 });
    expect(alice?.labels).toEqual({ spam: 6, ham: 3 });
    expect(alice?.labelEntropyBits).toBeCloseTo(entropyBits([6, 3]), 12);
    const expectedBytes = Array.from({ length: 9 }, (_, i) => (i % 2 ? 2 * i : i)).reduce((a, b) => a + b, 0);
    expect((alice?.bytes.train ?? 0) + (alice?.bytes.test ?? 0)).toBe(expectedBytes);
    expect(s.totals.documents.train + s.totals.documents.test).toBe(11);
    expect(s.dropped).toEqual({
      groups: 1,
      documents: 1,
      reasons: [expect.stringMatching(/client 'carol' has 1/)],
    });
    expect(s.scheme).toBe('natural(by=owner)');
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('prints a table with one row per client, a totals row and the warnings', () => {
    const s = summarizePartition(
      partitionCorpus(source, { kind: 'iid', clients: 3, split: { validation: 0, test: 0 } }),
    );
    const text = formatPartitionTable(s);
    expect(text).toMatch(/^toy: iid\(clients=3\), seed 0 — 12 documents/);
    for (const id of ['client-0', 'client-1', 'client-2', 'total (3 clients)']) expect(text).toContain(id);
    expect(text).toMatch(/label mix/);
    expect(text).toContain('mean client label entropy');
  });

  it('entropy: 0 for one label, 1 bit for two equal labels, log2(k) for k equal', () => {
    expect(entropyBits([5])).toBe(0);
    expect(entropyBits([3, 3])).toBeCloseTo(1, 12);
    expect(entropyBits([2, 2, 2, 2])).toBeCloseTo(2, 12);
    expect(entropyBits([])).toBe(0);
  });
});
