/**
 * The one adapter implementation behind every preset. A `CoreSpec` picks the parts (update shape, factor
 * sources, per-role sharing, chaining, masking, rank mode); this class owns the tensors, installs one
 * `LinearHook` per adapted Linear (each a single fused op), and implements the shared/private/derived split,
 * merging, link folding and the aggregation rules the spec implies.
 */
import { tf } from '../../tensor/tf.ts';
import { Rng } from '../../tensor/rng.ts';
import { randomizedSvd } from '../../tensor/svd.ts';
import { FedpeftError } from '../../errors.ts';
import { uniqueVariableName } from '../../model/variable-name.ts';
import type { Linear, LinearHook, Role } from '../../model/linear.ts';
import type { AdaptableModel } from '../../model/types.ts';
import type {
  Adapter,
  AggregationRule,
  AttachContext,
  LowRankFactors,
  LowRankUpdate,
  TensorMap,
} from '../types.ts';
import type { CoreSpec, FactorSource } from './spec.ts';
import {
  denseDeltaLinear,
  factoredLinear,
  maskedDelta,
  placeRows,
  windowLinear,
  type BaseProjection,
  type ColumnSelector,
} from './fused-ops.ts';
import { linkOffset, randomColumnsSelector, windowSelector } from './selectors.ts';
import { derivedSignature } from './signature.ts';
import {
  disposeFactors,
  notLowRankReason,
  slotLowRankFactors,
  type SlotTensors,
} from './low-rank-factors.ts';

type Placement = 'shared' | 'private' | 'derived';

/** One adapter tensor. A role-shared factor is one `Factor` referenced by several slots. */
interface Factor {
  readonly key: string;
  readonly variable: tf.Variable<tf.Rank.R2>;
  readonly placement: Placement;
  readonly trainable: boolean;
  /** The rank axis (A: 1, B: 0); null for tensors without one (dense deltas). */
  readonly rankAxis: 0 | 1 | null;
  /** How far along the rank axis this client trains it. */
  extent: number;
  readonly source: FactorSource | null;
}

/** One adapted Linear. */
interface Slot {
  readonly linear: Linear;
  readonly A: Factor | null;
  readonly B: Factor | null;
  readonly D: Factor | null;
  selector: ColumnSelector | null;
  readonly selectorKey: string | null;
  /** Offset of the window at link 0 (random-cLA's seeded offset, 0 for cLA). */
  readonly baseOffset: number;
  readonly mask: tf.Variable<tf.Rank.R2> | null;
  /** The rank prefix the fused op uses (nested ranks / per-layer ranks). */
  readonly activeRank: number;
  readonly hook: LinearHook;
}

function invalid(message: string): FedpeftError {
  return new FedpeftError('INVALID_CONFIG', message);
}

function kaimingUniform(rng: Rng, m: number, r: number): tf.Tensor2D {
  // PyTorch LoRA's kaiming_uniform_(a=sqrt(5)) on a [r, m] weight: bound = 1/sqrt(fan_in) = 1/sqrt(m).
  const bound = 1 / Math.sqrt(m);
  return rng.uniformTensor([m, r], -bound, bound) as tf.Tensor2D;
}

export class CoreAdapter implements Adapter {
  readonly method: string;
  readonly config: Readonly<Record<string, unknown>>;
  private readonly spec: CoreSpec;
  private readonly seed: number;
  private readonly rng: Rng;
  private readonly clientRank: number;
  private readonly onFold: AttachContext['onFold'];
  private readonly slots: Slot[] = [];
  private readonly factors = new Map<string, Factor>();
  private readonly lrScales = new Map<tf.Variable, number>();
  private link = 0;
  private freshRounds = 0;
  private isMerged = false;
  private detached = false;

  constructor(
    model: AdaptableModel,
    spec: CoreSpec,
    config: Readonly<Record<string, unknown>>,
    context: AttachContext,
  ) {
    this.method = spec.method;
    this.config = config;
    this.spec = spec;
    this.seed = context.seed;
    this.rng = new Rng(context.seed);
    this.clientRank = this.resolveClientRank(context.clientRank);
    this.onFold = context.onFold;
    const targets = this.selectTargets(model);
    this.validateLayerRanks(targets);
    try {
      for (const linear of targets) this.slots.push(this.buildSlot(linear));
    } catch (err) {
      this.disposeTensors();
      throw err;
    }
    for (const slot of this.slots) slot.linear.hook = slot.hook;
  }

  // ---- construction -------------------------------------------------------------------------------------

  private resolveClientRank(requested: number | undefined): number {
    const r = this.spec.rank;
    if (requested === undefined) return r;
    if (!Number.isInteger(requested) || requested < 1 || requested > r) {
      throw invalid(
        `${this.method}: client rank must be an integer in [1, ${r}] (the configured r), got ${requested}`,
      );
    }
    if (requested !== r && this.spec.rankMode === 'fixed') {
      throw invalid(
        `${this.method} trains every client at the same rank r=${r}; a client rank of ${requested} needs a ` +
          `method with heterogeneous ranks (pica, losa: nested prefixes; hetlora, flora: per-client factors)`,
      );
    }
    return requested;
  }

  private selectTargets(model: AdaptableModel): Linear[] {
    const linears = model.linears();
    const present = [...new Set(linears.map((l) => l.role))];
    const missing = this.spec.roles.filter((role) => !present.includes(role));
    if (missing.length > 0) {
      throw invalid(
        `${this.method}: this ${model.kind} model has no layer with role ${missing.map((m) => `'${m}'`).join(', ')} ` +
          `(roles present: ${present.join(', ')}); set "roles" to a subset of those`,
      );
    }
    const targets = linears.filter((l) => this.spec.roles.includes(l.role));
    const busy = targets.find((l) => l.hook !== null);
    if (busy) {
      throw invalid(`${this.method}: layer ${busy.name} already has an adapter attached; detach it first`);
    }
    const r = this.spec.rank;
    for (const l of targets) {
      const kind = this.spec.shape.kind;
      const limit = kind === 'window' || kind === 'columns' ? l.inDim : Math.min(l.inDim, l.outDim);
      const what =
        kind === 'window' || kind === 'columns' ? `input dim ${l.inDim}` : `dims [${l.inDim}, ${l.outDim}]`;
      if (kind !== 'dense' && r > limit) {
        throw invalid(
          `${this.method}: rank r=${r} is larger than layer ${l.name}'s ${what}; use r <= ${limit}`,
        );
      }
    }
    return targets;
  }

  private validateLayerRanks(targets: Linear[]): void {
    const ranks = this.spec.layerRanks;
    if (!ranks) return;
    const names = new Set(targets.map((l) => l.name));
    for (const [name, rank] of Object.entries(ranks)) {
      if (!names.has(name)) {
        throw invalid(
          `${this.method}: "ranks" names layer '${name}', which is not adapted (adapted: ${[...names].join(', ')})`,
        );
      }
      if (!Number.isInteger(rank) || rank < 1 || rank > this.spec.rank) {
        throw invalid(
          `${this.method}: rank of layer ${name} must be an integer in [1, ${this.spec.rank}], got ${rank}`,
        );
      }
    }
  }

  private addFactor(
    key: string,
    init: tf.Tensor2D,
    placement: Placement,
    trainable: boolean,
    rankAxis: 0 | 1 | null,
    extent: number,
    source: FactorSource | null,
  ): Factor {
    const variable = tf.variable(init, trainable, uniqueVariableName(`${this.method}.${key}`));
    init.dispose();
    const factor: Factor = { key, variable, placement, trainable, rankAxis, extent, source };
    this.factors.set(key, factor);
    return factor;
  }

  /** Per-role sharing reuses one factor; its shape must then agree across the role's layers. */
  private sharedFactor(key: string, shape: [number, number], layer: Linear): Factor | null {
    const existing = this.factors.get(key);
    if (!existing) return null;
    const [a, b] = existing.variable.shape;
    if (a !== shape[0] || b !== shape[1]) {
      throw invalid(
        `${this.method}: per-role sharing needs every '${layer.role}' layer to have the same shape for ${key} ` +
          `([${a}, ${b}]), but ${layer.name} needs [${shape.join(', ')}]`,
      );
    }
    return existing;
  }

  private trainedKey(layer: Linear, side: 'A' | 'B'): string {
    return this.spec.shareByRole ? `role.${layer.role}.${side}` : `${layer.name}.${side}`;
  }

  private buildSlot(linear: Linear): Slot {
    const spec = this.spec;
    const shape = spec.shape;
    const m = linear.inDim;
    const n = linear.outDim;
    let A: Factor | null = null;
    let B: Factor | null = null;
    let D: Factor | null = null;
    let selector: ColumnSelector | null = null;
    let selectorKey: string | null = null;
    let baseOffset = 0;
    let mask: tf.Variable<tf.Rank.R2> | null = null;
    let activeRank = spec.rank;

    if (shape.kind === 'dense') {
      D = this.addFactor(`${linear.name}.delta`, tf.zeros([m, n]), 'shared', true, null, m, null);
    } else if (shape.kind === 'window' || shape.kind === 'columns') {
      const r = spec.rank;
      const key = this.trainedKey(linear, 'B');
      B =
        this.sharedFactor(key, [r, n], linear) ??
        this.addFactor(key, tf.zeros([r, n]), shape.placement, true, 0, r, null);
      if (shape.kind === 'columns') {
        selectorKey = `${linear.name}.columns`;
        selector = randomColumnsSelector(this.rng.fork(`columns:${linear.name}`), r, m);
      } else {
        selectorKey = `${linear.name}.window`;
        baseOffset = shape.offset === 'seeded' ? this.rng.fork(`window:${linear.name}`).int(m - r + 1) : 0;
        selector = windowSelector(this.windowOffset(baseOffset, 0, m), r, m);
      }
    } else {
      // Factors are allocated at the client's rank (per-client mode) or at the full rank (nested prefixes).
      const alloc = spec.rankMode === 'per-client' ? this.clientRank : spec.rank;
      const layerRank = spec.layerRanks?.[linear.name] ?? spec.rank;
      activeRank = spec.rankMode === 'nested-prefix' ? Math.min(layerRank, this.clientRank) : alloc;
      const svd =
        shape.A.kind === 'svd' || shape.B.kind === 'svd'
          ? randomizedSvd(linear.kernel, alloc, { rng: this.rng.fork(`svd:${linear.name}`) })
          : null;
      try {
        A = this.buildFactor(linear, 'A', shape.A, [m, alloc], activeRank, svd);
        B = this.buildFactor(linear, 'B', shape.B, [alloc, n], activeRank, svd);
      } finally {
        svd?.U.dispose();
        svd?.V.dispose();
      }
      if (spec.mask === 'base') {
        const values = tf.tidy(() => tf.cast(tf.notEqual(linear.kernel, 0), 'float32')) as tf.Tensor2D;
        mask = tf.variable(values, false, uniqueVariableName(`${this.method}.${linear.name}.mask`));
        values.dispose();
      }
    }
    if (B?.trainable && spec.lrRatioB !== 1) this.lrScales.set(B.variable, spec.lrRatioB);

    const slot: Slot = {
      linear,
      A,
      B,
      D,
      selector,
      selectorKey,
      baseOffset,
      mask,
      activeRank,
      hook: { forward: (x, base) => this.forwardSlot(slot, x, base) },
    };
    return slot;
  }

  private buildFactor(
    linear: Linear,
    side: 'A' | 'B',
    source: FactorSource,
    shape: [number, number],
    activeRank: number,
    svd: { U: tf.Tensor2D; V: tf.Tensor2D } | null,
  ): Factor {
    const rankAxis = side === 'A' ? 1 : 0;
    if (source.kind === 'trained') {
      const key = this.trainedKey(linear, side);
      const existing = this.sharedFactor(key, shape, linear);
      if (existing) return existing;
      const init = source.init === 'zeros' ? tf.zeros(shape) : this.freshA(key, shape, 0);
      return this.addFactor(key, init as tf.Tensor2D, source.placement, true, rankAxis, activeRank, source);
    }
    if (source.kind === 'seeded') {
      const key = `${linear.name}.${side}`;
      return this.addFactor(
        key,
        this.seededA(linear, shape, 0),
        'derived',
        false,
        rankAxis,
        activeRank,
        source,
      );
    }
    if (!svd) throw new Error('unreachable: svd factor without an SVD');
    // A = U_l (top-r left singular vectors, [m, r]); B = V_l^T ([r, n]) for the paper's output-side projection.
    const init = side === 'A' ? svd.U.clone() : tf.transpose<tf.Tensor2D>(svd.V);
    return this.addFactor(
      `${linear.name}.${side === 'A' ? 'U' : 'Vt'}`,
      init,
      'derived',
      false,
      rankAxis,
      activeRank,
      source,
    );
  }

  /** A trainable A at its (re)initialisation for a link / fresh round: kaiming-uniform from the run seed. */
  private freshA(key: string, shape: [number, number], generation: number): tf.Tensor2D {
    return kaimingUniform(this.rng.fork(`init:${key}:${generation}`), shape[0], shape[1]);
  }

  /**
   * A frozen random A from the run seed (FFA-LoRA, RAC-LoRA, LoSA). Drawn at the full rank and sliced, so
   * clients with different (nested) ranks share exact prefixes.
   */
  private seededA(linear: Linear, shape: [number, number], link: number): tf.Tensor2D {
    return kaimingUniform(this.rng.fork(`frozen:${linear.name}:${link}`), shape[0], shape[1]);
  }

  private windowOffset(baseOffset: number, link: number, m: number): number {
    const chain = this.spec.chain;
    if (chain === 'permuted-windows') return linkOffset('permuted', this.rng, 0, link, this.spec.rank, m);
    if (chain === 'sequential-windows')
      return linkOffset('sequential', this.rng, baseOffset, link, this.spec.rank, m);
    return baseOffset;
  }

  // ---- forward -----------------------------------------------------------------------------------------

  private forwardSlot(slot: Slot, x: tf.Tensor2D, linear: Linear): tf.Tensor2D {
    if (this.isMerged) return linear.baseForward(x);
    const base: BaseProjection = { frozen: linear.frozenKernel(), bias: linear.bias };
    const spec = this.spec;
    if (slot.D) return denseDeltaLinear(x, base, slot.D.variable);
    if (slot.selector && slot.B) return windowLinear(x, base, slot.B.variable, slot.selector, spec.scale);
    const A = slot.A as Factor;
    const B = slot.B as Factor;
    return factoredLinear(x, base, A.variable, B.variable, {
      scale: spec.scale,
      rank: slot.activeRank,
      trainA: A.trainable,
      trainB: B.trainable,
      mask: slot.mask,
    });
  }

  /** The slot's current weight update `ΔK` (`[m, n]`); the caller disposes it. */
  private delta(slot: Slot): tf.Tensor2D {
    return tf.tidy(() => {
      const s = this.spec.scale;
      if (slot.D) return slot.D.variable.clone();
      if (slot.selector && slot.B)
        return placeRows(tf.mul(slot.B.variable, s), slot.selector, slot.linear.inDim);
      const A = (slot.A as Factor).variable;
      const B = (slot.B as Factor).variable;
      const k = slot.activeRank;
      if (slot.mask) return maskedDelta(A, B, k, s, slot.mask);
      const Ak = tf.slice(A, [0, 0], [A.shape[0], k]);
      const Bk = tf.slice(B, [0, 0], [k, B.shape[1]]);
      return tf.mul(tf.matMul(Ak, Bk), s);
    });
  }

  private addToKernel(linear: Linear, delta: tf.Tensor2D, sign: 1 | -1): void {
    const next = tf.tidy(() => (sign === 1 ? tf.add(linear.kernel, delta) : tf.sub(linear.kernel, delta)));
    linear.assignKernel(next as tf.Tensor2D);
    next.dispose();
  }

  // ---- the Adapter contract ------------------------------------------------------------------------------

  get merged(): boolean {
    return this.isMerged;
  }

  get currentLink(): number | undefined {
    return this.spec.chain === 'none' ? undefined : this.link;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.factors.values()].filter((f) => f.trainable).map((f) => f.variable);
  }

  learningRateScale(variable: tf.Variable): number {
    return this.lrScales.get(variable) ?? 1;
  }

  private mapOf(placement: Placement): TensorMap {
    const out: TensorMap = new Map();
    for (const f of this.factors.values()) if (f.placement === placement) out.set(f.key, f.variable);
    if (placement === 'private') {
      for (const s of this.slots) if (s.mask) out.set(`${s.linear.name}.mask`, s.mask);
    }
    if (placement === 'derived') {
      for (const s of this.slots) if (s.selector && s.selectorKey) out.set(s.selectorKey, s.selector.indices);
    }
    return out;
  }

  shared(): TensorMap {
    return this.mapOf('shared');
  }

  private(): TensorMap {
    return this.mapOf('private');
  }

  derived(): TensorMap {
    return this.mapOf('derived');
  }

  private sharedFactorNamed(name: string): Factor {
    const f = this.factors.get(name);
    if (!f || f.placement !== 'shared') {
      throw new FedpeftError(
        'UNKNOWN_TENSOR',
        `${this.method}: '${name}' is not a shared tensor of this adapter (shared: ${[...this.shared().keys()].join(', ')})`,
      );
    }
    return f;
  }

  aggregation(name: string): AggregationRule {
    const f = this.sharedFactorNamed(name);
    if (f.rankAxis === null || this.spec.shape.kind !== 'factored') return { kind: 'weighted-mean' };
    switch (this.spec.rankMode) {
      case 'nested-prefix':
        return { kind: 'nested-prefix-mean', axis: f.rankAxis };
      case 'per-client':
        return this.spec.freshEachRound
          ? { kind: 'stack', axis: f.rankAxis, scaleByWeight: f.rankAxis === 1 }
          : { kind: 'zero-pad-norm-weighted', axis: f.rankAxis };
      case 'fixed':
        return { kind: 'weighted-mean' };
    }
  }

  trainedExtent(name: string): number {
    const f = this.sharedFactorNamed(name);
    if (f.rankAxis === null) return f.variable.shape[0];
    return f.extent;
  }

  aggregationNorm(name: string): number {
    const f = this.sharedFactorNamed(name);
    let sq = 0;
    for (const slot of this.slots) {
      if (slot.A !== f && slot.B !== f && slot.D !== f) continue;
      const d = this.delta(slot);
      const norm = tf.tidy(() => tf.sum(tf.square(d)));
      sq += norm.dataSync()[0] as number;
      norm.dispose();
      d.dispose();
    }
    return Math.sqrt(sq);
  }

  setShared(values: TensorMap): void {
    this.assertLive();
    if (this.spec.freshEachRound) {
      this.foldStackedRound(values);
      return;
    }
    for (const [name, value] of values) {
      const f = this.sharedFactorNamed(name);
      this.assignAlongRank(f, value, name);
    }
  }

  /**
   * Nested-prefix and HetLoRA tensors may arrive truncated (the coordinator sends a client of rank r_k only
   * the first r_k entries) or padded (HetLoRA's global is at r_max): the overlapping prefix is written, the rest
   * of the local tensor is kept. Everything else must match exactly.
   */
  private assignAlongRank(f: Factor, value: tf.Tensor, name: string): void {
    const local = f.variable.shape;
    const shape = value.shape;
    const axis = f.rankAxis;
    const flexible = axis !== null && this.spec.rankMode !== 'fixed';
    const same = shape.length === 2 && shape[0] === local[0] && shape[1] === local[1];
    const other = axis === null ? 0 : 1 - axis;
    if (same) {
      f.variable.assign(value as tf.Tensor2D);
      return;
    }
    if (!flexible || shape.length !== 2 || shape[other] !== local[other]) {
      throw new FedpeftError(
        'SHAPE_MISMATCH',
        `${this.method}: shared tensor '${name}' has shape [${shape.join(', ')}], expected [${local.join(', ')}]`,
      );
    }
    const next = tf.tidy(() => {
      const k = Math.min(shape[axis], local[axis]);
      const size: [number, number] = axis === 0 ? [k, local[1]] : [local[0], k];
      const prefix = tf.slice(value, [0, 0], size);
      if (k === local[axis]) return prefix;
      const rest =
        axis === 0
          ? tf.slice(f.variable, [k, 0], [local[0] - k, local[1]])
          : tf.slice(f.variable, [0, k], [local[0], local[1] - k]);
      return tf.concat([prefix, rest], axis);
    });
    f.variable.assign(next as tf.Tensor2D);
    next.dispose();
  }

  /**
   * FLoRA: the global is `A' = [p_1 A_1 | ...]`, `B' = [B_1; ...]` per layer (any mix of ranks). Fold
   * `s A' B' = s sum_k p_k A_k B_k` into the base, then start a fresh local A (new seed generation), B = 0.
   */
  private foldStackedRound(values: TensorMap): void {
    if (this.isMerged)
      throw new FedpeftError('ADAPTER_MERGED', `${this.method}: unmerge before receiving a new round`);
    const pairs = this.slots.map((slot) => {
      const A = slot.A as Factor;
      const B = slot.B as Factor;
      const a = values.get(A.key);
      const b = values.get(B.key);
      if (!a || !b) {
        throw new FedpeftError(
          'MISSING_TENSOR',
          `${this.method}: the round's global lacks '${a ? B.key : A.key}'`,
        );
      }
      const { inDim: m, outDim: n } = slot.linear;
      if (a.rank !== 2 || b.rank !== 2 || a.shape[0] !== m || b.shape[1] !== n || a.shape[1] !== b.shape[0]) {
        throw new FedpeftError(
          'SHAPE_MISMATCH',
          `${this.method}: stacked factors of ${slot.linear.name} must be [${m}, R] and [R, ${n}], got ` +
            `[${a.shape.join(', ')}] and [${b.shape.join(', ')}]`,
        );
      }
      return { slot, a: a as tf.Tensor2D, b: b as tf.Tensor2D };
    });
    if (this.onFold) {
      const layers = new Map<string, LowRankFactors>();
      for (const { slot, a, b } of pairs) {
        layers.set(slot.linear.name, {
          P: a.clone(),
          Q: tf.tidy(() => tf.mul<tf.Tensor2D>(b, this.spec.scale)),
        });
      }
      this.reportFold(layers);
    }
    for (const { slot, a, b } of pairs) {
      const d = tf.tidy(() => tf.mul<tf.Tensor2D>(tf.matMul(a, b), this.spec.scale));
      this.addToKernel(slot.linear, d, 1);
      d.dispose();
    }
    this.freshRounds++;
    this.reinitialise(this.freshRounds);
  }

  /** New trainable A's (kaiming, generation `generation`), new seeded A's, zero B's. */
  private reinitialise(generation: number): void {
    for (const slot of this.slots) {
      for (const f of [slot.A, slot.B]) {
        if (!f) continue;
        const shape = f.variable.shape;
        if (f.source?.kind === 'trained') {
          const init = f.source.init === 'zeros' ? tf.zeros(shape) : this.freshA(f.key, shape, generation);
          f.variable.assign(init as tf.Tensor2D);
          init.dispose();
        } else if (f.source?.kind === 'seeded') {
          const init = this.seededA(slot.linear, shape, generation);
          f.variable.assign(init);
          init.dispose();
        }
      }
    }
  }

  setPrivate(values: TensorMap): void {
    this.assertLive();
    const live = this.private();
    for (const [name, value] of values) {
      const target = live.get(name) as tf.Variable | undefined;
      if (!target) {
        throw new FedpeftError(
          'UNKNOWN_TENSOR',
          `${this.method}: '${name}' is not a private tensor of this adapter (private: ${[...live.keys()].join(', ') || 'none'})`,
        );
      }
      if (target.shape.join(',') !== value.shape.join(',')) {
        throw new FedpeftError(
          'SHAPE_MISMATCH',
          `${this.method}: private tensor '${name}' has shape [${value.shape.join(', ')}], expected [${target.shape.join(', ')}]`,
        );
      }
      target.assign(value);
    }
  }

  signature(): Float32Array {
    this.assertLive();
    return derivedSignature(this.derived(), this.seed);
  }

  merge(): void {
    this.assertLive();
    if (this.isMerged) return;
    for (const slot of this.slots) {
      const d = this.delta(slot);
      this.addToKernel(slot.linear, d, 1);
      d.dispose();
    }
    this.isMerged = true;
  }

  /** Subtracts the same update again: the base comes back to within float rounding (not bit-exact). */
  unmerge(): void {
    this.assertLive();
    if (!this.isMerged) return;
    for (const slot of this.slots) {
      const d = this.delta(slot);
      this.addToKernel(slot.linear, d, -1);
      d.dispose();
    }
    this.isMerged = false;
  }

  advanceLink(): void {
    this.setLink(this.link + 1);
  }

  get foldCount(): number {
    if (this.spec.freshEachRound) return this.freshRounds;
    return this.spec.chain === 'none' ? 0 : this.link;
  }

  applyFold(values: TensorMap): void {
    this.assertLive();
    if (this.spec.freshEachRound) {
      this.setShared(values); // folds the stacked global and re-initialises the next generation
      return;
    }
    if (this.spec.chain === 'none') {
      throw new FedpeftError('NOT_STATEFUL', `${this.method} keeps no fold history; it has nothing to fold`);
    }
    // Validate every tensor before touching the base, so a bad fold never leaves it half-folded.
    for (const [name, value] of values) {
      const f = this.sharedFactorNamed(name);
      if (value.shape.join(',') !== f.variable.shape.join(',')) {
        throw new FedpeftError(
          'SHAPE_MISMATCH',
          `${this.method}: fold ${this.link} tensor '${name}' has shape [${value.shape.join(', ')}], expected [${f.variable.shape.join(', ')}]`,
        );
      }
    }
    const missing = [...this.shared().keys()].filter((name) => !values.has(name));
    if (missing.length > 0) {
      throw new FedpeftError(
        'MISSING_TENSOR',
        `${this.method}: fold ${this.link} lacks ${missing.join(', ')}`,
      );
    }
    this.setShared(values);
    this.setLink(this.link + 1);
  }

  setLink(index: number): void {
    this.assertLive();
    if (this.spec.chain === 'none') {
      throw new FedpeftError('NOT_CHAINED', `${this.method} is not a chained method; it has no links`);
    }
    if (!Number.isInteger(index) || index < 0) {
      throw new FedpeftError(
        'INVALID_LINK',
        `${this.method}: link index must be a non-negative integer, got ${index}`,
      );
    }
    if (index === this.link) return;
    if (this.isMerged)
      throw new FedpeftError('ADAPTER_MERGED', `${this.method}: unmerge before changing links`);
    if (this.onFold) {
      const update = this.lowRankUpdate();
      if (update.lowRank) this.reportFold(update.layers);
    }
    for (const slot of this.slots) {
      const d = this.delta(slot);
      this.addToKernel(slot.linear, d, 1);
      d.dispose();
    }
    this.link = index;
    if (this.spec.shape.kind === 'window') {
      for (const slot of this.slots) {
        slot.selector?.indices.dispose();
        const m = slot.linear.inDim;
        slot.selector = windowSelector(this.windowOffset(slot.baseOffset, index, m), this.spec.rank, m);
      }
      for (const f of this.factors.values()) {
        if (!f.trainable) continue;
        const zeros = tf.zerosLike(f.variable);
        f.variable.assign(zeros);
        zeros.dispose();
      }
    } else {
      this.reinitialise(index);
    }
  }

  lowRankUpdate(): LowRankUpdate {
    this.assertLive();
    const views = this.slots.map((slot) => ({ name: slot.linear.name, view: this.slotTensors(slot) }));
    for (const { view } of views) {
      const reason = notLowRankReason(view);
      if (reason !== null) return { lowRank: false, reason };
    }
    const layers = new Map<string, LowRankFactors>();
    for (const { name, view } of views) layers.set(name, slotLowRankFactors(view, this.spec.scale));
    return { lowRank: true, layers };
  }

  private slotTensors(slot: Slot): SlotTensors {
    return {
      inDim: slot.linear.inDim,
      A: slot.A?.variable ?? null,
      B: slot.B?.variable ?? null,
      D: slot.D?.variable ?? null,
      selector: slot.selector,
      mask: slot.mask,
      activeRank: slot.activeRank,
    };
  }

  /** Hands a fold's factors to the `onFold` listener, then frees them (the listener copies what it keeps). */
  private reportFold(layers: Map<string, LowRankFactors>): void {
    try {
      this.onFold?.(layers);
    } finally {
      disposeFactors(layers);
    }
  }

  detach(): void {
    if (this.detached) return;
    for (const slot of this.slots) if (slot.linear.hook === slot.hook) slot.linear.hook = null;
    this.disposeTensors();
    this.detached = true;
  }

  private disposeTensors(): void {
    for (const f of this.factors.values()) f.variable.dispose();
    this.factors.clear();
    for (const slot of this.slots) {
      slot.mask?.dispose();
      slot.selector?.indices.dispose();
    }
    this.lrScales.clear();
  }

  private assertLive(): void {
    if (this.detached) throw new FedpeftError('ADAPTER_DETACHED', `${this.method}: the adapter was detached`);
  }

  /** For summaries: the roles and layers this adapter adapts. */
  adaptedLayers(): { name: string; role: Role }[] {
    return this.slots.map((s) => ({ name: s.linear.name, role: s.linear.role }));
  }
}
