/**
 * The simulated device fleet: which class each client belongs to, what its memory budget lets it train
 * (nested rank, base sparsity), how long its compute and transfers take, and whether it is online and finishes
 * in a given round. Every draw comes from the run seed through labelled `Rng` forks keyed by client id and
 * round, so a client's fate in round 7 does not change when another client is added or when rounds are
 * replayed out of order (a coordinator restarted from a checkpoint sees the same fleet).
 *
 * Times are *simulated*: the runner measures real compute on this machine and divides by the class speed;
 * transfers are bytes over the class bandwidth plus latency. The round's simulated length is the slowest
 * finisher's (or the deadline).
 */
import { FedpeftError } from '../shared/errors.ts';
import { Rng } from '../shared/tensor/rng.ts';
import type { DeviceClass, Derivable, DevicesConfig } from './device-profile.ts';

/** Clients to device classes, with each class's share met as closely as integers allow (largest remainder). */
export function assignDeviceClasses(
  clientIds: readonly string[],
  classes: readonly DeviceClass[],
  seed: number,
): Map<string, DeviceClass> {
  if (classes.length === 0)
    throw new FedpeftError('INVALID_SCENARIO', 'the fleet needs at least one device class');
  const ids = [...new Set(clientIds)].sort();
  const total = classes.reduce((s, c) => s + c.share, 0);
  const exact = classes.map((c) => (c.share / total) * ids.length);
  const counts = exact.map(Math.floor);
  const byRemainder = exact
    .map((e, i) => ({ i, r: e - Math.floor(e) }))
    .sort((a, b) => b.r - a.r || a.i - b.i);
  const leftOver = ids.length - counts.reduce((s, c) => s + c, 0);
  for (let k = 0; k < leftOver; k++) {
    const entry = byRemainder[k % byRemainder.length] as { i: number };
    counts[entry.i] = (counts[entry.i] as number) + 1;
  }
  // Sorting first makes the result independent of the order the caller lists clients in.
  const order = new Rng(seed).fork('devices:assign').permutation(ids.length);
  const out = new Map<string, DeviceClass>();
  let next = 0;
  for (const [ci, cls] of classes.entries()) {
    for (let k = 0; k < (counts[ci] as number); k++) out.set(ids[order[next++] as number] as string, cls);
  }
  return out;
}

/**
 * What training the scenario's model costs in memory, from the real model (the runner counts it) or an
 * estimate. Only the relations matter for `memoryFraction` budgets; `memoryMb` budgets need real numbers.
 */
export interface TrainingFootprint {
  /** Parameters of the frozen base model. */
  baseParams: number;
  /** Activation memory of one local step at the scenario's batch size, in bytes. */
  activationBytes: number;
  /** Trainable adapter parameters per unit of rank (a nested rank r_k trains r_k times this). */
  adapterParamsPerRank: number;
  /** The method's full rank r. */
  maxRank: number;
}

const BYTES_PER_VALUE = 4;
/** A trainable value lives four times during training: weight, gradient, and AdamW's two moments. */
const TRAINING_COPIES = 4;

/**
 * Training memory in bytes at a rank and base sparsity: the kept base weights (float32) plus a 1-bit mask when
 * pruned, the activations, and every trainable adapter value with its gradient and optimizer moments.
 */
export function trainingMemoryBytes(fp: TrainingFootprint, rank: number, sparsity: number): number {
  const base = fp.baseParams * (1 - sparsity) * BYTES_PER_VALUE + (sparsity > 0 ? fp.baseParams / 8 : 0);
  return base + fp.activationBytes + rank * fp.adapterParamsPerRank * BYTES_PER_VALUE * TRAINING_COPIES;
}

export interface DeviceCapacity {
  /** Nested rank r_k this client trains (<= the method's r). */
  rank: number;
  /** Fraction of its base weights it prunes away (LoSA); 0 = dense. */
  sparsity: number;
  /** What training needs at that rank and sparsity. */
  memoryBytes: number;
  /** The class budget in bytes, or null when unlimited. */
  budgetBytes: number | null;
  /** False when even the smallest allowed configuration exceeds the budget: the client cannot take part. */
  fits: boolean;
}

/** Sparsity is rounded up to whole percent: pruning targets finer than that change nothing measurable. */
const SPARSITY_STEP = 0.01;

export function budgetBytes(cls: DeviceClass, fp: TrainingFootprint): number | null {
  if (cls.memoryMb !== undefined) return cls.memoryMb * 2 ** 20;
  if (cls.memoryFraction !== undefined) return cls.memoryFraction * trainingMemoryBytes(fp, fp.maxRank, 0);
  return null;
}

/**
 * A class's rank and sparsity. Explicit `rank` / `sparsity` on the class win; otherwise, for what `derive`
 * lists, the budget first raises sparsity (the base dominates memory, so pruning frees the most), up to
 * `maxSparsity`, then lowers the rank.
 */
export function deriveCapacity(
  cls: DeviceClass,
  fp: TrainingFootprint,
  derive: readonly Derivable[],
  maxSparsity: number,
): DeviceCapacity {
  let rank = Math.min(cls.rank ?? fp.maxRank, fp.maxRank);
  let sparsity = cls.sparsity ?? 0;
  const budget = budgetBytes(cls, fp);
  const result = (): DeviceCapacity => {
    const memoryBytes = trainingMemoryBytes(fp, rank, sparsity);
    return {
      rank,
      sparsity,
      memoryBytes,
      budgetBytes: budget,
      fits: budget === null || memoryBytes <= budget,
    };
  };
  if (budget === null || trainingMemoryBytes(fp, rank, sparsity) <= budget) return result();

  if (derive.includes('sparsity') && cls.sparsity === undefined && fp.baseParams > 0) {
    // need(s) = P(1-s)·4 + P/8 + rest is linear in s: solve for the smallest s that fits, then round up.
    const rest = trainingMemoryBytes(fp, rank, 0) - fp.baseParams * BYTES_PER_VALUE + fp.baseParams / 8;
    const needed = 1 - (budget - rest) / (fp.baseParams * BYTES_PER_VALUE);
    const rounded = Math.ceil(Math.max(needed, SPARSITY_STEP) / SPARSITY_STEP - 1e-9) * SPARSITY_STEP;
    sparsity = Math.min(Number(rounded.toFixed(2)), maxSparsity);
  }
  if (trainingMemoryBytes(fp, rank, sparsity) > budget && derive.includes('rank') && cls.rank === undefined) {
    const perRank = fp.adapterParamsPerRank * BYTES_PER_VALUE * TRAINING_COPIES;
    const room = budget - trainingMemoryBytes(fp, 0, sparsity);
    rank = Math.max(1, Math.min(rank, perRank > 0 ? Math.floor(room / perRank) : rank));
  }
  return result();
}

/** Simulated seconds to move `bytes` over a link of `mbps` Mbit/s with one-way latency `latencyMs`. */
export function transferSeconds(bytes: number, mbps: number, latencyMs: number): number {
  return latencyMs / 1000 + (bytes * 8) / (mbps * 1e6);
}

/** Simulated compute seconds on a device of the given speed, from seconds measured on this machine. */
export function computeSeconds(measuredSeconds: number, speed: number): number {
  return measuredSeconds / speed;
}

export interface RoundDraw {
  /** Online (eligible to be sampled) this round. */
  available: boolean;
  /** If sampled, it drops out before returning its update. */
  dropsOut: boolean;
  /** How far through its round (0..1) it gets before dropping out (for the time it wasted). */
  dropoutAt: number;
}

/** One client's availability and dropout for one round: a pure function of (seed, round, client, class). */
export function drawRound(seed: number, round: number, clientId: string, cls: DeviceClass): RoundDraw {
  const rng = new Rng(seed).fork(`devices:round:${round}`).fork(`client:${clientId}`);
  const available = rng.next() < cls.availability;
  const dropsOut = rng.next() < cls.dropout;
  const dropoutAt = rng.next();
  return { available, dropsOut, dropoutAt };
}

export interface ClientRoundWork {
  clientId: string;
  /** Real seconds its local training took on this machine. */
  measuredComputeSeconds: number;
  bytesDown: number;
  bytesUp: number;
}

export interface ClientRoundTiming {
  clientId: string;
  deviceClass: string;
  downloadSeconds: number;
  computeSeconds: number;
  uploadSeconds: number;
  /** When its update reaches the coordinator (or when it vanished, for a dropout). */
  finishSeconds: number;
  outcome: 'completed' | 'dropout' | 'deadline';
}

export interface SimulatedRound {
  round: number;
  clients: ClientRoundTiming[];
  completed: string[];
  dropped: { clientId: string; reason: 'dropout' | 'deadline' }[];
  /** Simulated length of the round: the last completed update, or the deadline when someone missed it. */
  roundSeconds: number;
}

/** A fleet: class per client, capacity per class, and the per-round draws and timings. */
export class DeviceFleet {
  readonly assignment: ReadonlyMap<string, DeviceClass>;
  private readonly capacities = new Map<string, DeviceCapacity>();

  constructor(
    readonly config: DevicesConfig,
    clientIds: readonly string[],
    readonly seed: number,
    footprint?: TrainingFootprint,
  ) {
    this.assignment = assignDeviceClasses(clientIds, config.classes, seed);
    if (footprint)
      for (const cls of config.classes)
        this.capacities.set(cls.name, deriveCapacity(cls, footprint, config.derive, config.maxSparsity));
  }

  deviceOf(clientId: string): DeviceClass {
    const cls = this.assignment.get(clientId);
    if (!cls) throw new FedpeftError('UNKNOWN_CLIENT', `client '${clientId}' is not part of this fleet`);
    return cls;
  }

  /** Rank and sparsity of a client (needs the footprint given to the constructor). */
  capacityOf(clientId: string): DeviceCapacity {
    const cap = this.capacities.get(this.deviceOf(clientId).name);
    if (!cap) throw new Error('DeviceFleet.capacityOf needs a TrainingFootprint at construction');
    return cap;
  }

  draw(round: number, clientId: string): RoundDraw {
    return drawRound(this.seed, round, clientId, this.deviceOf(clientId));
  }

  /** Clients online in `round` (and able to fit their training in memory), in sorted order. */
  available(round: number): string[] {
    return [...this.assignment.keys()]
      .filter(
        (id) => this.draw(round, id).available && (this.capacities.size === 0 || this.capacityOf(id).fits),
      )
      .sort();
  }

  /** Simulated timings, dropouts and stragglers of one round, from what each participant really did. */
  simulateRound(round: number, work: readonly ClientRoundWork[], deadlineSeconds?: number): SimulatedRound {
    const clients: ClientRoundTiming[] = work.map((w) => {
      const cls = this.deviceOf(w.clientId);
      const downloadSeconds = transferSeconds(w.bytesDown, cls.downMbps, cls.latencyMs);
      const compute = computeSeconds(w.measuredComputeSeconds, cls.speed);
      const uploadSeconds = transferSeconds(w.bytesUp, cls.upMbps, cls.latencyMs);
      const full = downloadSeconds + compute + uploadSeconds;
      const draw = this.draw(round, w.clientId);
      const timing = {
        clientId: w.clientId,
        deviceClass: cls.name,
        downloadSeconds,
        computeSeconds: compute,
        uploadSeconds,
      };
      if (draw.dropsOut)
        return { ...timing, finishSeconds: full * draw.dropoutAt, outcome: 'dropout' as const };
      if (deadlineSeconds !== undefined && full > deadlineSeconds)
        return { ...timing, finishSeconds: deadlineSeconds, outcome: 'deadline' as const };
      return { ...timing, finishSeconds: full, outcome: 'completed' as const };
    });
    const completed = clients.filter((c) => c.outcome === 'completed');
    const missed = clients.some((c) => c.outcome === 'deadline');
    const lastUpdate = Math.max(0, ...completed.map((c) => c.finishSeconds));
    return {
      round,
      clients,
      completed: completed.map((c) => c.clientId),
      dropped: clients
        .filter((c) => c.outcome !== 'completed')
        .map((c) => ({ clientId: c.clientId, reason: c.outcome as 'dropout' | 'deadline' })),
      roundSeconds: missed && deadlineSeconds !== undefined ? deadlineSeconds : lastUpdate,
    };
  }
}
