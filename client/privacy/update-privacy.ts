/**
 * Client privacy middleware: what happens to an update between training and the wire. The client works on
 * its DELTA from the round's global (that is what DP bounds and what secure aggregation masks):
 *
 * - clip the delta to L2 norm C (so this client moves the sum by at most C);
 * - add Gaussian noise of the std the coordinator asked for (distributed DP under secure aggregation:
 *   zC/√t, so the unmasked sum of at least t clients carries N(0, (zC)²)), and/or the std of the client's own
 *   local-DP option (zC: the update is private even from the coordinator).
 *
 * When both apply, the client clips to the smaller C and adds the larger std; each guarantee needs only
 * "clip <= its C and std >= its z·C", so both hold at once. The coordinator's request arrives in the round
 * instruction's typed `client_noise` (placement, clip norm, noise std).
 */
import { z } from 'zod';
import { addGaussianNoise, clipUpdate } from '../../shared/privacy/dp.ts';
import type { GaussianSource } from '../../shared/privacy/gaussian-source.ts';
import { updateNorm } from '../../shared/privacy/update-vector.ts';
import { FedpeftError } from '../../shared/errors.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { DpPlacement, type ClientNoise } from '../../shared/wire/messages.ts';

export interface ClientNoiseRequest {
  /** C: the L2 bound for the delta. */
  clipNorm: number;
  /** Std of the Gaussian noise added to each coordinate of the clipped delta (a standard deviation). */
  noiseStd: number;
}

/** A client's own local-DP option: z and C of the Gaussian mechanism it applies to every update it sends. */
export const localDpOptionSchema = z
  .object({
    clipNorm: z
      .number()
      .positive('localDp.clipNorm must be > 0 (the L2 bound of this client update)')
      .finite(),
    noiseMultiplier: z
      .number()
      .positive('localDp.noiseMultiplier must be > 0 (noise std / clip norm)')
      .finite(),
  })
  .strict();
export type LocalDpOption = z.output<typeof localDpOptionSchema>;

/**
 * The coordinator's request from the instruction's typed `client_noise`: null when it asks for nothing (no
 * DP, or central DP where the coordinator clips and noises). A half-specified request is an error, not ignored.
 */
export function noiseRequestFromInstruction(noise: ClientNoise | null): ClientNoiseRequest | null {
  if (!noise) return null;
  const { placement, clipNorm, noiseStd } = noise;
  if (placement === DpPlacement.DP_PLACEMENT_UNSPECIFIED || placement === DpPlacement.CENTRAL) return null;
  if (
    (placement !== DpPlacement.DISTRIBUTED && placement !== DpPlacement.LOCAL) ||
    !(clipNorm > 0 && Number.isFinite(clipNorm)) ||
    !(noiseStd >= 0 && Number.isFinite(noiseStd))
  ) {
    throw new FedpeftError(
      'INVALID_DP_CONFIG',
      `the round instruction asks for client-side DP with placement=${placement}, clipNorm=${clipNorm}, ` +
        `noiseStd=${noiseStd}; expected DISTRIBUTED or LOCAL, C > 0, std >= 0`,
    );
  }
  return { clipNorm, noiseStd };
}

/** Combines the coordinator's request and the client's own option (see the file comment). */
export function effectiveNoise(
  request: ClientNoiseRequest | null,
  local: LocalDpOption | undefined,
): ClientNoiseRequest | null {
  const own = local ? { clipNorm: local.clipNorm, noiseStd: local.noiseMultiplier * local.clipNorm } : null;
  if (!request) return own;
  if (!own) return request;
  return {
    clipNorm: Math.min(request.clipNorm, own.clipNorm),
    noiseStd: Math.max(request.noiseStd, own.noiseStd),
  };
}

export interface PrivatizedUpdate {
  /** The clipped (and noised) delta: what secure aggregation masks. */
  delta: HostTensorMap;
  /** global + delta: what a plaintext upload sends (the coordinator expects new values, not deltas). */
  tensors: HostTensorMap;
  /** L2 norm of the raw delta before clipping. */
  norm: number;
  clipped: boolean;
}

/** delta = updated - global, tensor by tensor (the update must hold exactly the global's tensors). */
export function deltaFrom(updated: HostTensorMap, global: HostTensorMap): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, t] of updated) {
    const g = global.get(name);
    if (!g || g.data.length !== t.data.length) {
      throw new FedpeftError(
        'UPDATE_LAYOUT_MISMATCH',
        `updated tensor '${name}' has no same-size counterpart in the round's global state`,
      );
    }
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = (t.data[i] as number) - (g.data[i] as number);
    out.set(name, { shape: [...t.shape], data });
  }
  return out;
}

/** Adds the delta back onto the global (float64 sum, one rounding). */
export function applyDelta(global: HostTensorMap, delta: HostTensorMap): HostTensorMap {
  const out: HostTensorMap = new Map();
  for (const [name, d] of delta) {
    const g = global.get(name) as { shape: number[]; data: Float32Array };
    const data = new Float32Array(d.data.length);
    for (let i = 0; i < data.length; i++) data[i] = (g.data[i] as number) + (d.data[i] as number);
    out.set(name, { shape: [...d.shape], data });
  }
  return out;
}

/**
 * Applies `noise` (clip + Gaussian) to the delta of `updated` from `global`. With `noise` null the delta is
 * passed through unchanged (secure aggregation without DP still masks deltas).
 */
export function privatizeUpdate(
  updated: HostTensorMap,
  global: HostTensorMap,
  noise: ClientNoiseRequest | null,
  source: GaussianSource,
): PrivatizedUpdate {
  const raw = deltaFrom(updated, global);
  if (!noise) return { delta: raw, tensors: applyDelta(global, raw), norm: updateNorm(raw), clipped: false };
  const clip = clipUpdate(raw, noise.clipNorm);
  const delta = noise.noiseStd > 0 ? addGaussianNoise(clip.update, noise.noiseStd, source) : clip.update;
  return { delta, tensors: applyDelta(global, delta), norm: clip.norm, clipped: clip.clipped };
}
