/**
 * Where DP noise comes from. Production noise must be unpredictable to everyone, including whoever knows the
 * run seed, so the default source draws from `crypto.getRandomValues` (Node >= 20 and every browser). The
 * seeded `Rng` is for reproducible simulations and tests only: noise from a known seed can be subtracted
 * again and protects nothing. Making the source a parameter keeps both uses honest and explicit.
 *
 * Known gap: this is continuous Gaussian noise in float64 rounded to float32 (as in TF Privacy and Opacus).
 * Floating-point sampling leaks a little through the low-order bits (Mironov 2012 for Laplace; Jin et al.
 * 2022 for Gaussian); the discrete Gaussian of Canonne, Kamath, Steinke 2020 would close that and is not
 * implemented.
 */

export interface GaussianSource {
  /** `crypto` or `seeded`: recorded in run metadata so a report says whether its noise was reproducible. */
  readonly kind: 'crypto' | 'seeded';
  /** Standard normal sample. */
  normal(): number;
  /** Adds N(0, std²) to every element of `out` in place. */
  addNoise(out: Float32Array | Float64Array, std: number): void;
}

/** Anything with a standard-normal `normal()`: the product's `Rng` fits (`seededGaussianSource(rng.fork('dp'))`). */
export interface NormalGenerator {
  normal(): number;
}

export function seededGaussianSource(rng: NormalGenerator): GaussianSource {
  return {
    kind: 'seeded',
    normal: () => rng.normal(),
    addNoise(out, std) {
      checkStd(std);
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + std * rng.normal();
    },
  };
}

const WORDS_PER_REFILL = 8192; // 32 KiB, under getRandomValues' 64 KiB limit per call

/**
 * Gaussian samples from the platform CSPRNG: 53-bit uniforms from two 32-bit words, then Box–Muller using
 * both outputs.
 */
export function cryptoGaussianSource(
  getRandomValues: (buf: Uint32Array) => Uint32Array = (buf) => globalThis.crypto.getRandomValues(buf),
): GaussianSource {
  const words = new Uint32Array(WORDS_PER_REFILL);
  let pos = WORDS_PER_REFILL;
  let spare: number | undefined;
  const nextWord = (): number => {
    if (pos >= WORDS_PER_REFILL) {
      getRandomValues(words);
      pos = 0;
    }
    return words[pos++] as number;
  };
  /** Uniform in (0, 1]: never 0, so the logarithm below is finite. */
  const uniformOpenZero = (): number => {
    const hi = nextWord() >>> 5; // 27 bits
    const lo = nextWord() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 1) / 9007199254740992;
  };
  const normal = (): number => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(uniformOpenZero()));
    const theta = 2 * Math.PI * uniformOpenZero();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
  return {
    kind: 'crypto',
    normal,
    addNoise(out, std) {
      checkStd(std);
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + std * normal();
    },
  };
}

function checkStd(std: number): void {
  if (!(Number.isFinite(std) && std >= 0))
    throw new Error(`noise std must be a finite number >= 0, got ${std}`);
}
