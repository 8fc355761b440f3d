/**
 * A fedpeft Llama's parameters under Hugging Face names and layouts (PyTorch `[out, in]` weights): what a
 * merged HF folder holds. GPT-2 has its own (`gpt2TensorsFromGpt` in `gpt2-checkpoint.ts`).
 */
import { hostTensor, toHost, type HostTensor, type HostTensorMap } from '../../tensor/host-tensor.ts';
import type { Llama } from '../llama.ts';
import { llamaHfTensorName } from './names.ts';

function transposeHost(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c] as number;
  return hostTensor([cols, rows], out);
}

export function llamaToHfTensors(model: Llama): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [param, v] of model.parameters()) {
    const { hf, transpose } = llamaHfTensorName(param);
    const host = toHost(v);
    out.set(hf, transpose ? transposeHost(host) : host);
  }
  return out;
}
