import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatValue, mergeRun, readResults, renderMarkdown, writeResults } from './results-file.ts';
import type { MachineInfo } from './types.ts';

const machine = (date: string): MachineInfo => ({
  cpu: 'Test CPU',
  cores: 2,
  memoryGiB: 8,
  node: 'v20.0.0',
  tfjs: '4.22.0',
  backend: 'wasm',
  date,
});
const info = { date: '2025-01-01T00:00:00.000Z', quick: false, seconds: 1 };

describe('merging a run into latest.json', () => {
  it('a re-run suite replaces exactly its keys (dropped keys vanish); other suites are kept', () => {
    const first = mergeRun(null, machine('d1'), [
      {
        suite: 'matmul',
        info,
        results: { 'matmul.a': { value: 1, unit: 'x' }, 'matmul.b': { value: 2, unit: 'x' } },
      },
      { suite: 'fleet', info, results: { 'fleet.rounds': { value: 9, unit: 's' } } },
    ]);
    const second = mergeRun(first, machine('d2'), [
      { suite: 'matmul', info: { ...info, quick: true }, results: { 'matmul.a': { value: 3, unit: 'x' } } },
    ]);
    expect(second.results).toEqual({
      'fleet.rounds': { value: 9, unit: 's', suite: 'fleet' },
      'matmul.a': { value: 3, unit: 'x', suite: 'matmul' },
    });
    expect(second.machine.date).toBe('d2');
    expect(second.suites.matmul?.quick).toBe(true);
    expect(second.suites.fleet?.quick).toBe(false);
    // Keys come out sorted, so diffs of latest.json between runs stay readable.
    expect(Object.keys(second.results)).toEqual(['fleet.rounds', 'matmul.a']);
  });

  it('renders a markdown table with every key', () => {
    const file = mergeRun(null, machine('d'), [
      {
        suite: 'step',
        info,
        results: { 'step.ms': { value: 4.04567, unit: 'ms' }, 'step.ratio': { value: 0.27, unit: 'x' } },
      },
    ]);
    const md = renderMarkdown(file);
    expect(md).toContain('| `step.ms` | 4.046 | ms | step |');
    expect(md).toContain('| `step.ratio` | 0.2700 | x | step |');
    expect(md).toContain('Test CPU, 2 cores');
    expect(formatValue(1234.5)).toBe('1235');
    expect(formatValue(0.000123456)).toBe('0.000123');
  });
});

describe('reading and writing results files', () => {
  it('round-trips through atomic writes and leaves no temp files', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-bench-'));
    const file = mergeRun(null, machine('d'), [
      { suite: 's', info, results: { 's.k': { value: 1.5, unit: 'ms' } } },
    ]);
    const paths = await writeResults(dir, file);
    expect(await readResults(paths.json)).toEqual(file);
    expect(await readFile(paths.markdown, 'utf8')).toBe(renderMarkdown(file));
    expect((await readdir(dir)).sort()).toEqual(['latest.json', 'latest.md']);
  });

  it('a missing file is an empty start; a corrupt one is an error a person can act on', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-bench-'));
    expect(await readResults(path.join(dir, 'latest.json'))).toBeNull();
    await writeFile(path.join(dir, 'latest.json'), '{"results": ');
    await expect(readResults(path.join(dir, 'latest.json'))).rejects.toThrow(
      /not a valid results file.*delete it/,
    );
  });

  it('keeps results of files written without suite ownership', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-bench-'));
    const legacy = { machine: machine('d0'), results: { 'old.key': { value: 1, unit: 'x' } } };
    await writeFile(path.join(dir, 'latest.json'), JSON.stringify(legacy));
    const merged = mergeRun(await readResults(path.join(dir, 'latest.json')), machine('d1'), [
      { suite: 's', info, results: { 's.k': { value: 2, unit: 'x' } } },
    ]);
    expect(Object.keys(merged.results)).toEqual(['old.key', 's.k']);
  });
});
