/**
 * Tensors <-> `TensorSpec` + raw little-endian bytes. Runs in Node and browsers (Uint8Array and typed-array
 * views only, no Buffer APIs). Encoding and decoding are views, not copies, whenever the host is little-endian
 * (every platform we target) and the bytes are aligned for the element type; otherwise one copy is made.
 *
 * Everything decoded here may come from the network: specs are validated strictly (known dtype, rank and
 * dimensions in range, byte length exactly product(shape) * element size, size limits) and failures are
 * `FedpeftError`s with codes named like the protocol's `ErrorCode`s. NaN/Inf are valid float32 values at this
 * level (a codec must round-trip them); the validator `assertFinite` is what rejects them in updates.
 */
import { fedpeft } from '../../proto/generated/fedpeft.js';
import { FedpeftError } from '../errors.ts';
import type { HostTensor } from '../tensor/host-tensor.ts';
import { decodeFloat16, encodeFloat16 } from './float16.ts';
import { DEFAULT_MAX_TRANSFER_BYTES, MAX_NAME_LENGTH, MAX_TENSOR_RANK } from './limits.ts';
import type { TensorSpec } from './messages.ts';

export const DType = fedpeft.v1.DType;
export type DType = fedpeft.v1.DType;

/** An in-memory tensor of one of the wire's element types (FLOAT16 decodes to `float32`). */
export type TypedTensor =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'int32'; shape: number[]; data: Int32Array }
  | { dtype: 'uint32'; shape: number[]; data: Uint32Array }
  | { dtype: 'uint8'; shape: number[]; data: Uint8Array };

export interface EncodedTensor {
  spec: TensorSpec;
  /** Little-endian element bytes; a view of the tensor's own memory when possible (do not mutate). */
  bytes: Uint8Array;
}

export interface TensorEncodeOptions {
  /** Send float32 data as binary16 (half the bytes; about 3 significant digits). */
  float16?: boolean;
}

export interface TensorLimits {
  /** Largest byte length accepted for one tensor (default: DEFAULT_MAX_TRANSFER_BYTES). */
  maxTensorBytes?: number;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const MAX_ELEMENTS = 2 ** 31 - 1;

const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  [DType.FLOAT32]: 4,
  [DType.INT32]: 4,
  [DType.UINT32]: 4,
  [DType.UINT8]: 1,
  [DType.FLOAT16]: 2,
};

const DTYPE_OF: Readonly<Record<TypedTensor['dtype'], DType>> = {
  float32: DType.FLOAT32,
  int32: DType.INT32,
  uint32: DType.UINT32,
  uint8: DType.UINT8,
};

function invalid(message: string): FedpeftError {
  return new FedpeftError('INVALID_TENSOR', message);
}

/** Bytes per element of a wire dtype; throws INVALID_TENSOR for DTYPE_UNSPECIFIED or unknown values. */
export function bytesPerElement(dtype: DType): number {
  const size = ELEMENT_BYTES[dtype];
  if (size === undefined) throw invalid(`unknown or unspecified tensor dtype ${String(dtype)}`);
  return size;
}

export function dtypeName(dtype: DType): string {
  return DType[dtype] ?? `DTYPE(${String(dtype)})`;
}

/** Element count of a shape, validating rank and dimensions; throws INVALID_TENSOR. */
export function elementCount(shape: readonly number[], what = 'tensor'): number {
  if (shape.length > MAX_TENSOR_RANK) {
    throw invalid(`${what} has rank ${shape.length}; at most ${MAX_TENSOR_RANK} dimensions are accepted`);
  }
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw invalid(`${what} has dimension ${String(d)}; dimensions must be non-negative integers`);
    }
    n *= d;
    if (n > MAX_ELEMENTS) throw invalid(`${what} has more than ${MAX_ELEMENTS} elements`);
  }
  return n;
}

/**
 * Validates an untrusted spec and returns its byte length: known dtype, valid shape, name present and short,
 * `byteLength === product(shape) * bytesPerElement(dtype)`, within the size limit.
 */
export function validateTensorSpec(spec: TensorSpec, limits: TensorLimits = {}): number {
  const what = `tensor ${JSON.stringify(spec.name.slice(0, 64))}`;
  if (spec.name.length === 0 || spec.name.length > MAX_NAME_LENGTH) {
    throw invalid(`tensor names must have 1..${MAX_NAME_LENGTH} characters (got ${spec.name.length})`);
  }
  const size = bytesPerElement(spec.dtype);
  const expected = elementCount(spec.shape, what) * size;
  if (spec.byteLength !== expected) {
    throw invalid(
      `${what}: byte length ${spec.byteLength} does not match shape ${JSON.stringify(spec.shape)} ` +
        `of ${dtypeName(spec.dtype)} (${expected} bytes)`,
    );
  }
  const max = limits.maxTensorBytes ?? DEFAULT_MAX_TRANSFER_BYTES;
  if (expected > max) throw invalid(`${what} has ${expected} bytes; at most ${max} are accepted`);
  return expected;
}

type ElementArray = Float32Array | Int32Array | Uint32Array | Uint8Array;

function bytesOf(data: ElementArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Host-order view of `bytes` as `n` elements, or an aligned copy (or byte-swapped copy on big-endian hosts). */
function viewAs<T extends ElementArray>(
  bytes: Uint8Array,
  n: number,
  make: (buffer: ArrayBufferLike, offset: number, length: number) => T,
  size: number,
  read: (view: DataView, offset: number) => number,
): T {
  if (LITTLE_ENDIAN_HOST) {
    if (bytes.byteOffset % size === 0) return make(bytes.buffer, bytes.byteOffset, n);
    const copy = new Uint8Array(n * size);
    copy.set(bytes);
    return make(copy.buffer, 0, n);
  }
  const out = make(new ArrayBuffer(n * size), 0, n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = read(view, i * size);
  return out;
}

function littleEndianBytes(
  data: Float32Array | Int32Array | Uint32Array,
  dtype: TypedTensor['dtype'],
): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return bytesOf(data);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'float32') view.setFloat32(i * 4, data[i]!, true);
    else if (dtype === 'int32') view.setInt32(i * 4, data[i]!, true);
    else view.setUint32(i * 4, data[i]!, true);
  }
  return out;
}

/** Tensor -> spec + little-endian bytes. Throws INVALID_TENSOR if the data length does not match the shape. */
export function encodeTensor(
  name: string,
  tensor: TypedTensor,
  options: TensorEncodeOptions = {},
): EncodedTensor {
  const n = elementCount(tensor.shape, `tensor ${JSON.stringify(name)}`);
  if (tensor.data.length !== n) {
    throw invalid(`tensor ${JSON.stringify(name)} has ${tensor.data.length} values; its shape needs ${n}`);
  }
  const shape = [...tensor.shape];
  if (options.float16 && tensor.dtype === 'float32') {
    const bytes = encodeFloat16(tensor.data);
    return { spec: { name, dtype: DType.FLOAT16, shape, byteLength: bytes.length }, bytes };
  }
  const bytes = tensor.dtype === 'uint8' ? tensor.data : littleEndianBytes(tensor.data, tensor.dtype);
  return { spec: { name, dtype: DTYPE_OF[tensor.dtype], shape, byteLength: bytes.length }, bytes };
}

/**
 * Spec + bytes -> tensor, after validating the spec and that `bytes` has exactly `spec.byteLength` bytes.
 * The result may be a view of `bytes` (no copy): copy it if that buffer will be reused.
 */
export function decodeTensor(spec: TensorSpec, bytes: Uint8Array, limits: TensorLimits = {}): TypedTensor {
  const byteLength = validateTensorSpec(spec, limits);
  if (bytes.length !== byteLength) {
    throw invalid(
      `tensor ${JSON.stringify(spec.name)}: got ${bytes.length} bytes, its spec says ${byteLength} (truncated or padded data)`,
    );
  }
  const n = byteLength / bytesPerElement(spec.dtype);
  const shape = [...spec.shape];
  switch (spec.dtype) {
    case DType.FLOAT32:
      return {
        dtype: 'float32',
        shape,
        data: viewAs(
          bytes,
          n,
          (b, o, l) => new Float32Array(b, o, l),
          4,
          (v, o) => v.getFloat32(o, true),
        ),
      };
    case DType.INT32:
      return {
        dtype: 'int32',
        shape,
        data: viewAs(
          bytes,
          n,
          (b, o, l) => new Int32Array(b, o, l),
          4,
          (v, o) => v.getInt32(o, true),
        ),
      };
    case DType.UINT32:
      return {
        dtype: 'uint32',
        shape,
        data: viewAs(
          bytes,
          n,
          (b, o, l) => new Uint32Array(b, o, l),
          4,
          (v, o) => v.getUint32(o, true),
        ),
      };
    case DType.UINT8:
      return { dtype: 'uint8', shape, data: bytes };
    case DType.FLOAT16:
      return { dtype: 'float32', shape, data: decodeFloat16(bytes) };
    default:
      throw invalid(`unknown tensor dtype ${String(spec.dtype)}`);
  }
}

/** A `HostTensor` (float32) -> spec + bytes; `float16` halves the bytes. */
export function encodeHostTensor(
  name: string,
  host: HostTensor,
  options: TensorEncodeOptions = {},
): EncodedTensor {
  return encodeTensor(name, { dtype: 'float32', shape: host.shape, data: host.data }, options);
}

/** Spec + bytes -> `HostTensor`; only FLOAT32 and FLOAT16 are accepted (INVALID_TENSOR otherwise). */
export function decodeHostTensor(spec: TensorSpec, bytes: Uint8Array, limits: TensorLimits = {}): HostTensor {
  if (spec.dtype !== DType.FLOAT32 && spec.dtype !== DType.FLOAT16) {
    throw invalid(
      `tensor ${JSON.stringify(spec.name)} is ${dtypeName(spec.dtype)}; a float tensor was expected`,
    );
  }
  const t = decodeTensor(spec, bytes, limits);
  return { shape: t.shape, data: t.data as Float32Array };
}

/**
 * Throws `FedpeftError('NON_FINITE')` naming the tensor, the first bad index and how many values are bad.
 * The coordinator calls it on every update before folding it into the aggregate.
 */
export function assertFinite(name: string, data: Float32Array): void {
  let first = -1;
  let bad = 0;
  for (let i = 0; i < data.length; i++) {
    // x - x is 0 for finite x and NaN for NaN and +-Infinity: one comparison per value.
    const v = data[i]!;
    if (v - v !== 0) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad > 0) {
    throw new FedpeftError(
      'NON_FINITE',
      `tensor ${JSON.stringify(name)} has ${bad} non-finite value(s) (NaN or Infinity), first at index ${first} ` +
        `(value ${String(data[first])}); the update is rejected`,
    );
  }
}
