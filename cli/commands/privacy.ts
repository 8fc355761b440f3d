import type { Command } from 'commander';
import { z } from 'zod';
import type { CliCommand } from './registry.ts';
import { UserError } from '../errors.ts';
import { calibrateNoiseMultiplier, computeEpsilon } from '../../shared/privacy/rdp-accountant.ts';
import type { RdpConversion } from '../../shared/privacy/rdp-accountant.ts';

// Flags arrive as strings; each schema turns one into a number or says, in the flag's own terms, what is wrong.
const numberFlag = (flag: string) =>
  z
    .string()
    .trim()
    .min(1, `${flag} needs a value`)
    .transform((s) => Number(s))
    .refine((v) => Number.isFinite(v), `${flag} must be a number`);

const samplingRate = numberFlag('--sampling-rate').refine(
  (v) => v > 0 && v <= 1,
  '--sampling-rate must be in (0, 1]: the fraction of all clients sampled per round (e.g. 100/10000 = 0.01)',
);
const noiseMultiplier = numberFlag('--noise-multiplier').refine(
  (v) => v > 0,
  '--noise-multiplier must be > 0: noise std divided by the clip norm (e.g. 1.1)',
);
const rounds = numberFlag('--rounds').refine(
  (v) => Number.isInteger(v) && v >= 1,
  '--rounds must be an integer >= 1',
);
const delta = numberFlag('--delta').refine(
  (v) => v > 0 && v < 1,
  '--delta must be in (0, 1), typically below 1 / number of clients (e.g. 1e-5)',
);
const epsilon = numberFlag('--target-epsilon').refine((v) => v > 0, '--target-epsilon must be > 0');
const conversion = z.enum(['balle2020', 'classic'], {
  error: () => '--conversion must be balle2020 (Opacus / TF Privacy today) or classic (Mironov 2017)',
});

function parseFlag<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new UserError(r.error.issues.map((i) => i.message).join('; '));
  return r.data;
}

interface EpsilonOpts {
  samplingRate: string;
  noiseMultiplier: string;
  rounds: string;
  delta: string;
  conversion: string;
  json?: boolean;
}

interface NoiseOpts {
  samplingRate: string;
  rounds: string;
  delta: string;
  targetEpsilon: string;
  json?: boolean;
}

export const privacyCommand: CliCommand = {
  name: 'privacy',
  register(program: Command) {
    const privacy = program
      .command('privacy')
      .description('differential-privacy accounting (RDP of the sampled Gaussian mechanism)');

    privacy
      .command('epsilon')
      .description('ε spent after T rounds sampling a fraction q of clients with noise multiplier z')
      .requiredOption('--sampling-rate <q>', 'fraction of all clients sampled per round, in (0, 1]')
      .requiredOption('--noise-multiplier <z>', 'noise std / clip norm')
      .requiredOption('--rounds <T>', 'number of rounds')
      .requiredOption('--delta <d>', 'target δ')
      .option('--conversion <name>', 'RDP -> (ε, δ) conversion: balle2020 or classic', 'balle2020')
      .option('--json', 'print one JSON object')
      .addHelpText(
        'after',
        '\nExamples:\n  fedpeft privacy epsilon --sampling-rate 0.01 --noise-multiplier 1.0 --rounds 300 --delta 1e-5\n' +
          '  fedpeft privacy epsilon --sampling-rate 0.004267 --noise-multiplier 1.1 --rounds 14063 --delta 1e-5 --json',
      )
      .action((opts: EpsilonOpts) => {
        const q = parseFlag(samplingRate, opts.samplingRate);
        const z = parseFlag(noiseMultiplier, opts.noiseMultiplier);
        const T = parseFlag(rounds, opts.rounds);
        const d = parseFlag(delta, opts.delta);
        const conv: RdpConversion = parseFlag(conversion, opts.conversion);
        const spent = computeEpsilon({
          samplingRate: q,
          noiseMultiplier: z,
          steps: T,
          delta: d,
          conversion: conv,
        });
        const report = {
          epsilon: spent.epsilon,
          delta: d,
          bestOrder: spent.order,
          samplingRate: q,
          noiseMultiplier: z,
          rounds: T,
          conversion: conv,
        };
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(report, null, 2)}\n`
            : `ε = ${spent.epsilon.toPrecision(4)} at δ = ${d} after ${T} rounds ` +
                `(sampling rate ${q}, noise multiplier ${z}; best RDP order ${spent.order}, ${conv} conversion)\n`,
        );
      });

    privacy
      .command('noise-multiplier')
      .description('the smallest noise multiplier that keeps ε within a target over T rounds')
      .requiredOption('--sampling-rate <q>', 'fraction of all clients sampled per round, in (0, 1]')
      .requiredOption('--rounds <T>', 'number of rounds')
      .requiredOption('--delta <d>', 'target δ')
      .requiredOption('--target-epsilon <eps>', 'the ε budget')
      .option('--json', 'print one JSON object')
      .addHelpText(
        'after',
        '\nExample:\n  fedpeft privacy noise-multiplier --sampling-rate 0.01 --rounds 500 --delta 1e-5 --target-epsilon 3',
      )
      .action((opts: NoiseOpts) => {
        const q = parseFlag(samplingRate, opts.samplingRate);
        const T = parseFlag(rounds, opts.rounds);
        const d = parseFlag(delta, opts.delta);
        const eps = parseFlag(epsilon, opts.targetEpsilon);
        const z = calibrateNoiseMultiplier({ samplingRate: q, steps: T, budget: { epsilon: eps, delta: d } });
        const spent = computeEpsilon({ samplingRate: q, noiseMultiplier: z, steps: T, delta: d });
        const report = { noiseMultiplier: z, epsilon: spent.epsilon, delta: d, samplingRate: q, rounds: T };
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(report, null, 2)}\n`
            : `noise multiplier ${z.toPrecision(4)} gives ε = ${spent.epsilon.toPrecision(4)} at δ = ${d} after ${T} rounds (sampling rate ${q})\n`,
        );
      });
  },
};
