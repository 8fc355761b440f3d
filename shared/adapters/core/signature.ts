/**
 * A compact fingerprint of an adapter's derived (frozen, recomputable) tensors. For each derived tensor T of
 * shape `[m, c]` it is `T^T z` with a probe `z in R^m` drawn from the run seed and the tensor's name — for
 * PiCa that is exactly `U_l^T z` per layer. Clients that derived the same tensors report the same numbers
 * (same backend: bit-identical; across backends: close), so the coordinator can flag a client whose base
 * weights or projectors differ without ever receiving the tensors.
 */
import type { tf } from '../../tensor/tf.ts';
import { Rng } from '../../tensor/rng.ts';

export function derivedSignature(derived: ReadonlyMap<string, tf.Tensor>, seed: number): Float32Array {
  const root = new Rng(seed).fork('adapter-signature');
  const out: number[] = [];
  for (const [name, t] of derived) {
    const m = t.shape[0] ?? 1;
    const c = t.shape.length >= 2 ? t.size / m : 1;
    const data = t.dataSync();
    const z = root.fork(name).normalArray(m);
    for (let j = 0; j < c; j++) {
      let acc = 0;
      for (let i = 0; i < m; i++) acc += (data[i * c + j] as number) * (z[i] as number);
      out.push(acc);
    }
  }
  return Float32Array.from(out);
}
