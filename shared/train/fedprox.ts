/**
 * FedProx's proximal term `mu/2 ‖w - w_global‖²` over the trained variables (Li et al., 2020): it keeps a
 * client's local steps near the global model on non-IID data. The client snapshots the global values when a
 * round starts (`setReference`); the training step adds the term's gradient `mu (w - w_global)` directly,
 * which is exact and cheaper than differentiating the penalty.
 */
import { tf } from '../tensor/tf.ts';

export class ProximalTerm {
  readonly mu: number;
  private readonly reference = new Map<string, tf.Tensor>();

  constructor(mu: number) {
    if (!(mu >= 0) || !Number.isFinite(mu))
      throw new Error(`FedProx mu must be a finite number >= 0, got ${mu}`);
    this.mu = mu;
  }

  /** Snapshot the current values of `variables` as `w_global` (replaces any previous reference). */
  setReference(variables: readonly tf.Variable[]): void {
    this.clear();
    for (const v of variables) this.reference.set(v.name, tf.keep(tf.clone(v)));
  }

  hasReference(variable: tf.Variable): boolean {
    return this.reference.has(variable.name);
  }

  /** `mu (w - w_global)`, or null when the variable has no reference (it is then not pulled anywhere). */
  gradient(variable: tf.Variable): tf.Tensor | null {
    const ref = this.reference.get(variable.name);
    if (!ref || this.mu === 0) return null;
    return tf.tidy(() => tf.mul(tf.sub(variable, ref), this.mu));
  }

  /** The penalty's value `mu/2 sum ‖w - w_global‖²` (for logging; reads the device). */
  penalty(variables: readonly tf.Variable[]): number {
    const value = tf.tidy(() => {
      const terms = variables.flatMap((v) => {
        const ref = this.reference.get(v.name);
        return ref ? [tf.sum(tf.square(tf.sub(v, ref)))] : [];
      });
      return terms.length ? tf.mul(tf.addN(terms), this.mu / 2) : tf.scalar(0);
    });
    const out = value.dataSync()[0] as number;
    value.dispose();
    return out;
  }

  clear(): void {
    for (const t of this.reference.values()) t.dispose();
    this.reference.clear();
  }

  dispose(): void {
    this.clear();
  }
}
