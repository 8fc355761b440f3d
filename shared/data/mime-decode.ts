/**
 * The small part of MIME that email cleaning needs: quoted-printable, base64, charset decoding and RFC 2047
 * encoded words in headers. Bytes are decoded with the part's declared charset through `TextDecoder` (Node and
 * browsers); an unknown or missing charset falls back to windows-1252, which maps every byte to a character
 * and is what most 2002-era mail that lies about its charset really is.
 */

/** Quoted-printable (RFC 2045 §6.7) to bytes. Soft line breaks (`=` at end of line) join lines. */
export function decodeQuotedPrintable(text: string): Uint8Array {
  const src = text.replace(/=\r?\n/g, '');
  const out = new Uint8Array(src.length * 3); // worst case: every char is a multi-byte UTF-16 unit
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const ch = src.charCodeAt(i);
    if (ch === 0x3d /* = */ && i + 2 < src.length && /^[0-9a-f]{2}$/i.test(src.slice(i + 1, i + 3))) {
      out[n++] = parseInt(src.slice(i + 1, i + 3), 16);
      i += 2;
    } else if (ch < 0x100) {
      out[n++] = ch;
    } else {
      // Already-decoded non-Latin-1 characters (the package stores mail as JS strings): keep them as UTF-8.
      const codePoint = src.codePointAt(i) ?? 0xfffd;
      const bytes = new TextEncoder().encode(String.fromCodePoint(codePoint));
      out.set(bytes, n);
      n += bytes.length;
      if (codePoint > 0xffff) i++;
    }
  }
  return out.subarray(0, n);
}

/**
 * Base64 to bytes; returns null when the payload is not valid base64 (truncated or mangled mail). Decoding
 * stops at the first line that is not base64: mailing lists append plain-text footers to base64 bodies.
 */
export function decodeBase64(text: string): Uint8Array | null {
  const lines: string[] = [];
  for (const line of text.trim().split(/\r?\n/)) {
    const t = line.trim();
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t)) break;
    lines.push(t);
  }
  const clean = lines.join('').replace(/=+$/, '');
  const padded = clean + '='.repeat((4 - (clean.length % 4)) % 4);
  if (clean.length % 4 === 1) return null;
  try {
    const binary = atob(padded);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

/** Bytes to text in the given charset, falling back to windows-1252 for unknown labels. */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? '').trim().toLowerCase() || 'windows-1252';
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

/** Decodes RFC 2047 encoded words (`=?utf-8?B?...?=`, `=?iso-8859-1?Q?...?=`) in a header value. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?') // whitespace between adjacent encoded words is not part of the text
    .replace(
      /=\?([^?\s]+)\?([bq])\?([^?]*)\?=/gi,
      (whole, charset: string, encoding: string, payload: string) => {
        const bytes =
          encoding.toLowerCase() === 'b'
            ? decodeBase64(payload)
            : decodeQuotedPrintable(payload.replace(/_/g, ' '));
        return bytes ? decodeCharset(bytes, charset.replace(/\*.*$/, '')) : whole;
      },
    );
}
