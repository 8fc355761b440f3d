import { describe, expect, it } from 'vitest';
import { loadCorpus } from './corpora.ts';
import { loadSpamCorpus } from './spam-corpus.ts';

describe('shipped corpora (read from the installed npm packages)', () => {
  it('SOTU: 233 speeches by 43 presidents, 1790-2021, unique ids, NFC text with \\n line endings', () => {
    const sotu = loadCorpus('sotu');
    expect(sotu.documents).toHaveLength(233);
    const presidents = new Set(sotu.documents.map((d) => d.attributes.president));
    expect(presidents.size).toBe(43);
    const years = sotu.documents.map((d) => Number(d.attributes.year));
    expect(Math.min(...years)).toBe(1790);
    expect(Math.max(...years)).toBe(2021);
    expect(new Set(sotu.documents.map((d) => d.id)).size).toBe(233);
    expect(new Set(sotu.documents.map((d) => d.attributes.party))).toContain('Whig');
    for (const d of sotu.documents) {
      expect(d.text.length).toBeGreaterThan(1000);
      expect(d.text).not.toMatch(/\r/);
      expect(d.text.normalize('NFC')).toBe(d.text);
    }
    expect(sotu.documents[0]?.text).toMatch(/^Fellow-Citizens of the Senate and House of Representatives/);
  });

  it('spam: 6,046 emails, 4,150 ham and 1,896 spam, in five groups', () => {
    const spam = loadCorpus('spam');
    expect(spam.documents).toHaveLength(6046);
    const count = (key: string, value: string) =>
      spam.documents.filter((d) => d.attributes[key] === value).length;
    expect(count('label', 'ham')).toBe(4150);
    expect(count('label', 'spam')).toBe(1896);
    expect(count('group', 'easy-ham-1')).toBe(2500);
    expect(count('group', 'easy-ham-2')).toBe(1400);
    expect(count('group', 'hard-ham-1')).toBe(250);
    expect(count('group', 'spam-1')).toBe(500);
    expect(count('group', 'spam-2')).toBe(1396);
    expect(new Set(spam.documents.map((d) => d.id)).size).toBe(6046);
  });

  it('spam: cleaning removes routing headers, MIME markup, quoted-printable and HTML on real emails', () => {
    const docs = loadSpamCorpus().documents;
    const byId = new Map(docs.map((d) => [d.id, d.text]));
    // A quoted-printable part inside multipart/mixed: `=2C`, `=28`, `=2E` must be decoded.
    const qp = byId.get('spam-1/00022') ?? '';
    expect(qp.startsWith('Relationship\n\nURGENT PRIVATE & EXTREMELY CONFIDENTIAL')).toBe(true);
    expect(qp).toContain('contractor (Beneficiary). You should not be surprised');
    expect(qp).not.toMatch(/=2C|=28|=2E|Content-Type|Content-Transfer-Encoding/);
    // Routing headers are gone, the subject stays.
    const ham = byId.get('easy-ham-1/00001') ?? '';
    expect(ham.startsWith('Re: New Sequences Window\n\n')).toBe(true);
    expect(ham).not.toMatch(/^(Received|Return-Path|Delivered-To|X-Loop):/im);
    // A text/html body without a plain part, with an unclosed <head>: visible text kept, tags and entities gone.
    const html = byId.get('spam-2/00061') ?? '';
    expect(html).toContain('This powerful drink is not labeled "Romance in a Bottle" for nothing!');
    expect(html).not.toMatch(/<\/?(p|font|strong|html|body)\b|&nbsp;/i);
    // No top-level Content-Type, parts sniffed from the body; the HTML alternative beats the stub plain part.
    const sniffed = byId.get('spam-2/00140') ?? '';
    expect(sniffed).toContain('International Executive Guild Registry');
    expect(sniffed).not.toMatch(/NextPart|=A0|=2E/);
    // base64 text/html with a plain-text mailing-list footer appended after the payload.
    expect(byId.get('spam-1/00313')).toContain('Degerli SMSTR kullanicimiz');
    // Corpus-wide: no routing header lines, almost no HTML tags left (a few are quoted inside plain text).
    const withReceived = docs.filter((d) => /^Received: from /m.test(d.text)).length;
    const withTags = docs.filter((d) => /<\/?(html|body|div|font|td|table)\b/i.test(d.text)).length;
    expect(withReceived).toBeLessThan(20); // forwarded messages quoted in bodies
    expect(withTags).toBeLessThan(10);
  });

  it('Moby-Dick: 139 sections: Contents, Etymology, Extracts, chapters 1-135, Epilogue', () => {
    const moby = loadCorpus('moby-dick');
    expect(moby.documents).toHaveLength(139);
    const chapters = moby.documents.filter((d) => /^\d+$/.test(d.attributes.chapter ?? ''));
    expect(chapters.map((d) => Number(d.attributes.chapter))).toEqual(
      Array.from({ length: 135 }, (_, i) => i + 1),
    );
    expect(moby.documents.find((d) => d.id === 'chapter-1')?.text).toMatch(/Call me Ishmael/);
    expect(moby.documents.at(-1)?.attributes.chapter).toBe('Epilogue');
    const bytes = moby.documents.reduce((s, d) => s + d.text.length, 0);
    expect(bytes).toBeGreaterThan(1_000_000);
    expect(moby.labelAttribute).toBeUndefined();
  });

  it('caches in-process and names the valid datasets on a typo', () => {
    expect(loadCorpus('sotu')).toBe(loadCorpus('sotu'));
    expect(() => loadCorpus('sotu2')).toThrow(
      /unknown dataset 'sotu2'; choose one of: sotu, spam, moby-dick/,
    );
  });
});
