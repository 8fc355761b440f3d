import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileDocuments, formatDataSpec, parseDataSpec, resolveDataSpec } from './data-spec.ts';

describe('parseDataSpec', () => {
  it('parses the documented forms', () => {
    expect(parseDataSpec('sotu:president=Abraham Lincoln')).toEqual({
      kind: 'corpus',
      corpus: 'sotu',
      filter: { attribute: 'president', value: 'Abraham Lincoln' },
    });
    expect(parseDataSpec('spam:group=easy-ham-1')).toEqual({
      kind: 'corpus',
      corpus: 'spam',
      filter: { attribute: 'group', value: 'easy-ham-1' },
    });
    expect(parseDataSpec('moby-dick')).toEqual({ kind: 'corpus', corpus: 'moby-dick', filter: null });
    expect(parseDataSpec('file:./notes.txt')).toEqual({ kind: 'file', path: './notes.txt' });
    // A value may itself contain ':' and '=' (only the first of each separates).
    expect(parseDataSpec('file:C:/data/a=b.txt')).toEqual({ kind: 'file', path: 'C:/data/a=b.txt' });
  });

  it('rejects malformed specs with one line that lists the valid forms', () => {
    for (const bad of [
      '',
      'bogus',
      'bogus:x=y',
      'sotu:president',
      'sotu:=x',
      'sotu:president=',
      'file:',
      'file:  ',
    ]) {
      let message = '';
      try {
        parseDataSpec(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toMatch(/valid forms: .*sotu:president=Abraham Lincoln.*file:<path>/);
      expect(message).not.toContain('\n');
    }
  });

  it('format is a right inverse of parse for every well-formed corpus spec', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9 ._-]*[A-Za-z0-9._-]$/);
    fc.assert(
      fc.property(fc.constantFrom('sotu', 'spam', 'moby-dick'), token, token, (corpus, attribute, value) => {
        const text = `${corpus}:${attribute.trim()}=${value.trim()}`;
        if (attribute.trim() === '' || value.trim() === '' || attribute.includes('=')) return;
        expect(formatDataSpec(parseDataSpec(text))).toBe(text);
      }),
    );
  });
});

describe('resolveDataSpec', () => {
  it('selects a corpus slice and names the valid values when there is none', () => {
    const docs = resolveDataSpec(parseDataSpec('sotu:president=Abraham Lincoln'));
    expect(docs.length).toBe(4);
    expect(docs.every((d) => d.attributes.president === 'Abraham Lincoln')).toBe(true);
    expect(() => resolveDataSpec(parseDataSpec('sotu:president=Nobody'))).toThrow(
      /values: George Washington/,
    );
    expect(() => resolveDataSpec(parseDataSpec('sotu:color=red'))).toThrow(
      /attributes: president, party, year/,
    );
  });

  it('reads a text file as paragraphs, or as equal pieces when it has too few', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-spec-'));
    try {
      const path = join(dir, 'notes.txt');
      await writeFile(path, Array.from({ length: 7 }, (_, i) => `paragraph ${i} text`).join('\r\n\r\n'));
      const docs = resolveDataSpec(parseDataSpec(`file:${path}`));
      expect(docs.map((d) => d.text)).toEqual(Array.from({ length: 7 }, (_, i) => `paragraph ${i} text`));
      const one = fileDocuments('one.txt', 'x'.repeat(1000));
      expect(one.length).toBe(10);
      expect(one.map((d) => d.text).join('')).toBe('x'.repeat(1000));
      expect(() => resolveDataSpec(parseDataSpec(`file:${join(dir, 'missing.txt')}`))).toThrow(
        /cannot read data file/,
      );
      expect(() => fileDocuments('empty.txt', ' \n ')).toThrow(/is empty/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
