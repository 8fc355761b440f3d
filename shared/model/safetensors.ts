/**
 * The safetensors format (Hugging Face), read and written by hand: it is simple, and no well-kept npm package
 * handles it in both Node and browsers without native code.
 *
 * Layout: an unsigned 64-bit little-endian header length N; N bytes of UTF-8 JSON mapping each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section), plus an optional
 * `__metadata__` string map; then the raw little-endian data. Files come from the network and from strangers,
 * so the header is validated strictly, as the reference implementation does: offsets inside the data, sizes
 * equal to `prod(shape) * itemsize`, and the tensors tiling the data section exactly (no overlap, no holes,
 * no trailing bytes — holes are how polyglot files hide content).
 *
 * Values become float32 host tensors: F32 as is, F16/BF16/F64 widened or narrowed to F32. Writing is F32.
 */
import { FedpeftError } from '../errors.ts';
import { hostTensorSize, type HostTensor, type HostTensorMap } from '../tensor/host-tensor.ts';

/** Bytes per element of every dtype the format defines (needed to validate sizes even for skipped tensors). */
const ITEM_SIZE: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};
const READABLE = ['F32', 'F16', 'BF16', 'F64'] as const;

/** Same limit as the reference implementation: a header larger than this is an attack, not a model. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export interface SafetensorsFile {
  tensors: HostTensorMap;
  metadata: Record<string, string>;
  /** The dtype each tensor had in the file, before conversion to float32. */
  dtypes: Map<string, string>;
  /** Tensors left out because their dtype cannot be read as float32 (only with `skipUnsupported`). */
  skipped: string[];
}

export interface ParseOptions {
  /** Where the bytes came from, for error messages. */
  source?: string;
  /** Leave out tensors of non-float dtypes (I64 position ids, BOOL masks) instead of failing. Default false. */
  skipUnsupported?: boolean;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function invalid(source: string, message: string): FedpeftError {
  return new FedpeftError('INVALID_SAFETENSORS', `${source}: ${message}`);
}

/** Validates the header and returns its entries (in header order) and metadata, without touching the data. */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  source = 'safetensors file',
): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  if (bytes.length < 8)
    throw invalid(source, `${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + low;
  if (headerLength > MAX_HEADER_BYTES)
    throw invalid(source, `header length ${headerLength} exceeds the 100 MB limit`);
  if (8 + headerLength > bytes.length) {
    throw invalid(source, `header length ${headerLength} runs past the end of the ${bytes.length}-byte file`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw invalid(source, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw invalid(source, "header must be a JSON object starting with '{'");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw invalid(source, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw invalid(source, 'header must be a JSON object');
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        throw invalid(source, '__metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string')
          throw invalid(source, `__metadata__.${k} must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    entries.push(parseEntry(name, raw, source, dataLength));
  }
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of byOffset) {
    if (e.begin !== cursor) {
      throw invalid(
        source,
        e.begin < cursor
          ? `tensor '${e.name}' (bytes ${e.begin}..${e.end}) overlaps the previous tensor (ends at ${cursor})`
          : `bytes ${cursor}..${e.begin} before tensor '${e.name}' belong to no tensor`,
      );
    }
    cursor = e.end;
  }
  if (cursor !== dataLength) {
    throw invalid(source, `the data section has ${dataLength} bytes but the tensors cover ${cursor}`);
  }
  return { entries, metadata, dataStart };
}

function parseEntry(name: string, raw: unknown, source: string, dataLength: number): Entry {
  if (name.length === 0) throw invalid(source, 'a tensor has an empty name');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid(source, `tensor '${name}' must be an object with dtype, shape and data_offsets`);
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
    throw invalid(source, `tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw invalid(source, `tensor '${name}' shape must be an array of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    throw invalid(source, `tensor '${name}' data_offsets must be [begin, end] with non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw invalid(source, `tensor '${name}' data_offsets [${begin}, ${end}] are reversed`);
  if (end > dataLength) {
    throw invalid(source, `tensor '${name}' ends at byte ${end}, past the ${dataLength}-byte data section`);
  }
  const expected = hostTensorSize(shape as number[]) * (ITEM_SIZE[dtype] as number);
  if (end - begin !== expected) {
    throw invalid(
      source,
      `tensor '${name}' (${dtype} ${JSON.stringify(shape)}) needs ${expected} bytes, data_offsets give ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

export function parseSafetensors(bytes: Uint8Array, options: ParseOptions = {}): SafetensorsFile {
  const source = options.source ?? 'safetensors file';
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, source);
  const tensors: HostTensorMap = new Map();
  const dtypes = new Map<string, string>();
  const skipped: string[] = [];
  for (const e of entries) {
    const name = e.name;
    if (!(READABLE as readonly string[]).includes(e.dtype)) {
      if (options.skipUnsupported) {
        skipped.push(name);
        continue;
      }
      throw invalid(
        source,
        `tensor '${name}' has dtype ${e.dtype}; readable dtypes are ${READABLE.join(', ')} (or pass skipUnsupported)`,
      );
    }
    // A real copy into a fresh buffer: Node's Buffer.slice returns a view into a shared pool, and typed views
    // over the copy must start at offset 0 of their own buffer.
    const raw = new Uint8Array(e.end - e.begin);
    raw.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(name, { shape: [...e.shape], data: decodeFloats(raw, e.dtype) });
    dtypes.set(name, e.dtype);
  }
  return { tensors, metadata, dtypes, skipped };
}

/** `raw` is a fresh copy (aligned at 0), so typed-array views over its buffer are safe. */
function decodeFloats(raw: Uint8Array, dtype: string): Float32Array {
  const buffer = raw.buffer as ArrayBuffer;
  const view = new DataView(buffer);
  switch (dtype) {
    case 'F32': {
      if (littleEndianHost) return new Float32Array(buffer);
      const out = new Float32Array(raw.length / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(raw.length / 8);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(raw.length / 2);
      for (let i = 0; i < bits.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case 'F16': {
      const out = new Float32Array(raw.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    default:
      throw new Error(`unreachable dtype ${dtype}`);
  }
}

/** IEEE 754 binary16 -> number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** F32 safetensors bytes; tensors in the map's order, header padded with spaces to 8-byte alignment. */
export function serializeSafetensors(
  tensors: HostTensorMap,
  metadata: Record<string, string> = {},
): Uint8Array {
  // A null-prototype object: a tensor may legitimately be named `__proto__` (names are untrusted strings), and
  // on a plain object that assignment would set the prototype instead of adding the entry.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === METADATA_KEY || name.length === 0) throw new Error(`invalid tensor name '${name}'`);
    checkHostTensor(name, t);
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    if (littleEndianHost) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i] as number, true);
    }
    at += t.data.byteLength;
  }
  return out;
}

function checkHostTensor(name: string, t: HostTensor): void {
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`tensor '${name}' has an invalid shape ${JSON.stringify(t.shape)}`);
  }
  if (hostTensorSize(t.shape) !== t.data.length) {
    throw new Error(`tensor '${name}' has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
  }
}
