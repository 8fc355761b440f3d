/**
 * Test fixtures in the real Hugging Face formats (no downloads are possible here): `config.json` plus
 * `model.safetensors`, or a sharded `model.safetensors.index.json` + `model-0000k-of-0000n.safetensors`, with
 * weights stored as F32, F16 or BF16 exactly as transformers' `save_pretrained` lays them out.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostTensorMap } from '../../../tensor/host-tensor.ts';
import { float32ToHalfBits } from '../../../wire/float16.ts';

export type FixtureDtype = 'F32' | 'F16' | 'BF16';

export interface HfFixture {
  config: Record<string, unknown>;
  /** HF names -> float32 values (rounded to `dtype` when written). */
  tensors: HostTensorMap;
  dtype?: FixtureDtype;
  /** Split the tensors over this many shard files with an index. Default 1 (one `model.safetensors`). */
  shards?: number;
}

// One scratch word: fixtures of SmolLM2's size convert 135M values, so nothing is allocated per value.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 bits -> bfloat16 bits, round to nearest even (NaN stays NaN). */
function bitsToBfloat16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 -> bfloat16 bits, round to nearest even. */
export function floatToBfloat16(value: number): number {
  scratchF32[0] = value;
  return bitsToBfloat16(scratchU32[0]!);
}

/** Safetensors bytes with every tensor in `dtype`. */
export function encodeSafetensors(tensors: HostTensorMap, dtype: FixtureDtype): Uint8Array {
  const size = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * size] };
    offset += t.data.length * size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const spaced = new Uint8Array(padded).fill(0x20);
  spaced.set(json);
  json = spaced;
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    const data = Float32Array.from(t.data);
    const bits = new Uint32Array(data.buffer);
    for (let i = 0; i < data.length; i++) {
      if (dtype === 'F32') view.setUint32(at, bits[i]!, true);
      else view.setUint16(at, dtype === 'F16' ? float32ToHalfBits(data[i]!) : bitsToBfloat16(bits[i]!), true);
      at += size;
    }
  }
  return out;
}

export async function writeHfFolder(dir: string, fixture: HfFixture): Promise<void> {
  const dtype = fixture.dtype ?? 'F32';
  const shards = fixture.shards ?? 1;
  await mkdir(dir, { recursive: true });
  const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({ ...fixture.config, torch_dtype: torchDtype }, null, 2),
  );
  if (shards === 1) {
    await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(fixture.tensors, dtype));
    return;
  }
  const names = [...fixture.tensors.keys()];
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part: HostTensorMap = new Map();
    names.filter((_, i) => i % shards === s).forEach((n) => part.set(n, fixture.tensors.get(n)!));
    for (const n of part.keys()) weightMap[n] = file;
    await writeFile(join(dir, file), encodeSafetensors(part, dtype));
  }
  await writeFile(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
}
