/**
 * Client-level differential privacy mechanisms on host tensors (the DP-FedAvg recipe of McMahan et al. 2018):
 * each client's update, seen as one vector, is clipped to L2 norm C, so one client changes the SUM of
 * updates by at most C; Gaussian noise of STANDARD DEVIATION z·C added to that sum then gives the sampled
 * Gaussian mechanism that `RdpAccountant` accounts for with noise multiplier z.
 *
 * DISCO passed a variance where a standard deviation belongs; here every function takes and documents a std,
 * and the tests check the sample std of the noise statistically.
 *
 * Three placements of the same noise:
 * - central: the coordinator adds N(0, (zC)²) to the sum (it sees the sum, so it must be trusted with it);
 * - distributed: each of n clients adds N(0, (zC)²/n) before secure aggregation, so the unmasked sum carries
 *   exactly N(0, (zC)²) and nobody ever sees a less-noised aggregate. If fewer clients survive than were
 *   planned for, the sum has less noise than budgeted: plan with the minimum survivors (the secure-aggregation
 *   threshold), which over-noises slightly when more survive;
 * - local: a client noises its own clipped update with N(0, (zC)²) before it leaves the device; it protects
 *   the client against the coordinator too, at the price of n times the noise variance in the sum. Its
 *   guarantee per released update is the Gaussian mechanism's (RDP α/(2z²) per round the client takes part
 *   in: `computeRdp(1, z, rounds)`), not the amplified central one.
 */
import type { HostTensorMap } from '../tensor/host-tensor.ts';
import type { GaussianSource } from './gaussian-source.ts';
import { updateNorm } from './update-vector.ts';
import { FedpeftError } from '../errors.ts';

export interface ClipResult {
  /** A new map; the input is never modified. */
  update: HostTensorMap;
  /** L2 norm before clipping. */
  norm: number;
  /** The factor the update was multiplied by (1 when it was already within the bound). */
  scale: number;
  clipped: boolean;
}

/**
 * Scales the update so its L2 norm is at most `clipNorm`. The factor is shrunk by 2^-22 relative so that
 * rounding the scaled values to float32 can never push the norm back over the bound: the DP guarantee
 * needs sensitivity <= C exactly, not approximately.
 */
export function clipUpdate(update: HostTensorMap, clipNorm: number): ClipResult {
  checkPositive('clip norm', clipNorm);
  const norm = updateNorm(update);
  const clipped = norm > clipNorm;
  const scale = clipped ? (clipNorm / norm) * (1 - 2 ** -22) : 1;
  const out: HostTensorMap = new Map();
  for (const [name, t] of update) {
    const data = clipped ? t.data.map((v) => v * scale) : t.data.slice();
    out.set(name, { shape: [...t.shape], data });
  }
  return { update: out, norm, scale, clipped };
}

export interface GaussianNoiseParams {
  /** z: noise std divided by the sensitivity (the clip norm). */
  noiseMultiplier: number;
  /** C: the L2 bound each client's update was clipped to. */
  clipNorm: number;
}

/** The std of the noise on the SUM: z·C (a standard deviation, not a variance). */
export function centralNoiseStd(params: GaussianNoiseParams): number {
  checkNonNegative('noise multiplier', params.noiseMultiplier);
  checkPositive('clip norm', params.clipNorm);
  return params.noiseMultiplier * params.clipNorm;
}

/** Per-client std so that the sum over `minClients` clients has std z·C: z·C/√n. */
export function distributedNoiseStd(params: GaussianNoiseParams & { minClients: number }): number {
  if (!(Number.isInteger(params.minClients) && params.minClients >= 1)) {
    throw new FedpeftError(
      'INVALID_DP_CONFIG',
      `minClients must be an integer >= 1, got ${params.minClients}`,
    );
  }
  return centralNoiseStd(params) / Math.sqrt(params.minClients);
}

/** A new map: `update` plus independent N(0, std²) on every element. */
export function addGaussianNoise(update: HostTensorMap, std: number, source: GaussianSource): HostTensorMap {
  checkNonNegative('noise std', std);
  const out: HostTensorMap = new Map();
  for (const [name, t] of update) {
    // Noise is drawn and added in float64, then rounded once to float32.
    const wide = Float64Array.from(t.data);
    source.addNoise(wide, std);
    out.set(name, { shape: [...t.shape], data: Float32Array.from(wide) });
  }
  return out;
}

/** Central DP: noise the (unweighted) sum of clipped updates with std z·C. */
export function addCentralNoise(
  sum: HostTensorMap,
  params: GaussianNoiseParams,
  source: GaussianSource,
): HostTensorMap {
  return addGaussianNoise(sum, centralNoiseStd(params), source);
}

/** Distributed DP: one client's share of the noise, added before masking. */
export function addDistributedNoise(
  clippedUpdate: HostTensorMap,
  params: GaussianNoiseParams & { minClients: number },
  source: GaussianSource,
): HostTensorMap {
  return addGaussianNoise(clippedUpdate, distributedNoiseStd(params), source);
}

/** Local DP on the client: clip to C, then add N(0, (zC)²) to the client's own update. */
export function localDp(
  update: HostTensorMap,
  params: GaussianNoiseParams,
  source: GaussianSource,
): ClipResult {
  const clip = clipUpdate(update, params.clipNorm);
  return { ...clip, update: addGaussianNoise(clip.update, centralNoiseStd(params), source) };
}

function checkPositive(what: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0))
    throw new FedpeftError('INVALID_DP_CONFIG', `${what} must be a finite number > 0, got ${v}`);
}

function checkNonNegative(what: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0))
    throw new FedpeftError('INVALID_DP_CONFIG', `${what} must be a finite number >= 0, got ${v}`);
}
