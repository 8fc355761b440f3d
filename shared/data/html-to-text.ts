/**
 * HTML to plain text for email bodies. Not a full HTML parser on purpose: spam HTML is frequently malformed,
 * and all a text model needs is the visible words in reading order, with block elements as line breaks.
 * Runs in Node and browsers (no DOM needed).
 */

/** Named entities that actually occur in mail; anything else named is left as written. */
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  copy: '©',
  reg: '®',
  trade: '™',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  bull: '•',
  middot: '·',
  deg: '°',
  euro: '€',
  pound: '£',
  yen: '¥',
  cent: '¢',
  sect: '§',
  para: '¶',
  laquo: '«',
  raquo: '»',
  times: '×',
  divide: '÷',
  frac12: '½',
  frac14: '¼',
  frac34: '¾',
  eacute: 'é',
  egrave: 'è',
  aacute: 'á',
  agrave: 'à',
  ouml: 'ö',
  uuml: 'ü',
  auml: 'ä',
  szlig: 'ß',
  ccedil: 'ç',
  ntilde: 'ñ',
};

export function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z][a-z0-9]*);?/gi, (whole, body: string) => {
    if (body.startsWith('#')) {
      const code =
        body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      // Invalid or control code points would inject garbage bytes; keep the text as written instead.
      if (!Number.isFinite(code) || code < 9 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
        return whole;
      return String.fromCodePoint(code);
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

const BLOCK_TAGS = /<\/?(?:p|div|br|tr|li|ul|ol|table|h[1-6]|blockquote|pre|hr|center|title|dt|dd)\b[^>]*>/gi;

/** Visible text of an HTML fragment or document: scripts, styles and comments removed, blocks as newlines. */
export function htmlToText(html: string): string {
  // Only closed comments/scripts/styles are cut as blocks: spam often leaves `<head>` or `<!--` unclosed, and
  // cutting "to the end" would silently erase the whole message. Unclosed ones lose just their tag below.
  const withoutInvisible = html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!doctype[^>]*>/gi, ' ');
  const withBreaks = withoutInvisible.replace(BLOCK_TAGS, '\n');
  const withoutTags = withBreaks.replace(/<\/?[a-z!][^>]*>/gi, ' ');
  return decodeHtmlEntities(withoutTags);
}

/** Heuristic for bodies that are HTML without saying so in a Content-Type header (common in spam). */
export function looksLikeHtml(text: string): boolean {
  return /<(?:html|body|p|br|div|table|font|a\s+href|td|img)\b/i.test(text);
}
