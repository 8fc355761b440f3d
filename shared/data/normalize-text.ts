/**
 * Text normalization shared by every corpus: the packages mix line-ending styles and Unicode forms, and a
 * byte-level language model would otherwise learn `\r\n` vs `\n` and composed vs decomposed accents as
 * different things. NFC is what almost all text on disk already is, so it changes the fewest bytes.
 */

/** `\r\n` and lone `\r` become `\n`; Unicode becomes NFC. Whitespace inside lines is kept (it is text). */
export function normalizeText(text: string): string {
  return text.replace(/\r\n?/g, '\n').normalize('NFC');
}

/**
 * Collapses runs of spaces/tabs to one space, trims every line, and keeps at most one blank line between
 * paragraphs. Used where layout carries no meaning (cleaned emails, HTML converted to text).
 */
export function collapseWhitespace(text: string): string {
  return text
    .replace(/[\t\f\v \u00a0]+/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Number of UTF-8 bytes of a string (= tokens under the default byte-level tokenizer), without encoding it. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3; // lone surrogate: TextEncoder writes U+FFFD (3 bytes)
    } else bytes += 3;
  }
  return bytes;
}
