import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cleanEmail } from './email-text.ts';
import { decodeBase64, decodeEncodedWords, decodeQuotedPrintable } from './mime-decode.ts';
import { decodeHtmlEntities, htmlToText } from './html-to-text.ts';

const headers = [
  'From someone@example.com  Thu Aug 22 12:36:23 2002',
  'Return-Path: <someone@example.com>',
  'Received: from relay.example.com (relay [10.0.0.1])',
  '\tby mx.example.com with ESMTP id 123',
  'Subject: Hello',
  '  world',
].join('\r\n');

describe('cleanEmail', () => {
  it('keeps only the (unfolded) Subject and the body, with normalized whitespace', () => {
    const out = cleanEmail(`${headers}\r\n\r\nFirst   line\r\n\r\n\r\n\r\nSecond\tline  \r\n`);
    expect(out.subject).toBe('Hello world');
    expect(out.body).toBe('First line\n\nSecond line');
    expect(out.text).toBe('Hello world\n\nFirst line\n\nSecond line');
  });

  it('decodes quoted-printable and base64 parts with their charset and skips attachments', () => {
    const b64 = btoa(String.fromCharCode(...new TextEncoder().encode('Grüße aus Köln')));
    const raw = [
      'Subject: =?utf-8?B?' + btoa('Caf\u00c3\u00a9') + '?=',
      'Content-Type: multipart/mixed; boundary="XYZ"',
      '',
      'preamble ignored',
      '--XYZ',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'caf=E9 soft=',
      'break',
      '--XYZ',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      b64,
      '--XYZ',
      'Content-Type: image/gif',
      'Content-Transfer-Encoding: base64',
      '',
      'R0lGODlhAQABAAAAACw=',
      '--XYZ--',
      'epilogue ignored',
    ].join('\n');
    const out = cleanEmail(raw);
    expect(out.subject).toBe('Café');
    expect(out.body).toBe('café softbreak\n\nGrüße aus Köln');
  });

  it('converts HTML parts to visible text and prefers the fuller alternative', () => {
    const raw = [
      'Subject: offer',
      'Content-Type: multipart/alternative; boundary=b1',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'This is an HTML message',
      '--b1',
      'Content-Type: text/html',
      '',
      '<html><head><style>p{color:red}</style><title>t</title></head><body><p>Buy&nbsp;now &amp; save</p>',
      '<script>alert(1)</script><div>50% off &#8220;today&#8221;</div></body></html>',
      '--b1--',
    ].join('\n');
    const out = cleanEmail(raw);
    expect(out.body).toContain('Buy now & save');
    expect(out.body).toContain('50% off “today”');
    expect(out.body).not.toMatch(/<|color:red|alert|This is an HTML message/);
  });

  it('never throws on arbitrary input and is deterministic', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        const a = cleanEmail(s);
        expect(cleanEmail(s)).toEqual(a);
        expect(a.text).not.toMatch(/\r/);
      }),
      { numRuns: 200 },
    );
  });
});

describe('MIME decoding', () => {
  it('quoted-printable round-trips arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const encoded = Array.from(bytes, (b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`).join(
          '',
        );
        // Insert soft line breaks every 30 chars, as mailers do.
        const wrapped = encoded.replace(/(.{30})/g, '$1=\n');
        expect(Array.from(decodeQuotedPrintable(wrapped))).toEqual(Array.from(bytes));
      }),
    );
  });

  it('base64 round-trips arbitrary bytes across wrapped lines and rejects garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const encoded = btoa(String.fromCharCode(...bytes)).replace(/(.{76})/g, '$1\n');
        expect(Array.from(decodeBase64(encoded) ?? [-1])).toEqual(Array.from(bytes));
      }),
    );
    expect(decodeBase64('abcde')).toBeNull();
  });

  it('decodes RFC 2047 words and leaves plain text alone', () => {
    expect(decodeEncodedWords('=?iso-8859-1?Q?Gr=FC=DFe_aus?= =?utf-8?Q?K=C3=B6ln?=')).toBe('Grüße ausKöln');
    expect(decodeEncodedWords('plain subject =? not encoded')).toBe('plain subject =? not encoded');
  });

  it('HTML entities: named, decimal, hex; invalid code points are kept as written', () => {
    expect(decodeHtmlEntities('&lt;a&gt; &amp;amp; &#65;&#x42; &copy; &bogus; &#0;')).toBe(
      '<a> &amp; AB © &bogus; &#0;',
    );
    expect(htmlToText('<p>a</p><!-- hidden --><b>b</b><br>c')).toMatch(/^\s*a\s+b\s+c\s*$/);
  });
});
