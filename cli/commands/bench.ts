import { Option, type Command } from 'commander';
import { selectBackend } from '../../shared/tensor/backend.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { benchSuites } from '../../bench/harness/registry.ts';
import { DEFAULT_RESULTS_DIR, runSuites } from '../../bench/harness/runner.ts';
import '../../bench/suites/index.ts';
import type { CliCommand } from './registry.ts';

interface BenchOptions {
  quick?: boolean;
  only?: string[];
  list?: boolean;
  out?: string;
}

const BUILT_IN_FLAGS = new Set(['quick', 'only', 'list', 'out', 'help', 'backend']);

function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function listSuites(): string {
  const lines = ['Benchmark suites (run in this order):'];
  for (const s of benchSuites.all()) {
    const when = s.optIn ? `opt-in, --${s.optIn.flag}` : 'default';
    lines.push(`  ${s.name.padEnd(12)} ${when.padEnd(20)} ${s.description}`);
  }
  return lines.join('\n');
}

export const benchCommand: CliCommand = {
  name: 'bench',
  register(program: Command) {
    const command = program
      .command('bench')
      .description('run the benchmark suites and merge their results into bench/results/latest.{json,md}')
      .option('--quick', 'fewer repetitions (and smaller sizes where a key allows it): a smoke run')
      .option('--only <suites>', 'run only these suites, comma-separated (opt-in suites included)', parseList)
      .option('--list', 'list the suites and exit')
      .option('--out <dir>', 'results folder', DEFAULT_RESULTS_DIR);
    const optIn = new Map<string, string>();
    for (const [flag, { description, suites }] of benchSuites.optInFlags()) {
      if (BUILT_IN_FLAGS.has(flag))
        throw new Error(`bench opt-in flag --${flag} clashes with a built-in option`);
      const option = new Option(`--${flag}`, `${description} (opt-in suites: ${suites.join(', ')})`);
      optIn.set(flag, option.attributeName());
      command.addOption(option);
    }
    command
      .addHelpText(
        'after',
        '\nExamples:\n  npm run bench\n  npm run bench -- --quick\n  fedpeft bench --only matmul\n  fedpeft bench --list',
      )
      .action(async (opts: BenchOptions, cmd: Command) => {
        if (opts.list) {
          process.stdout.write(`${listSuites()}\n`);
          return;
        }
        const flags = [...optIn]
          .filter(([, attr]) => cmd.getOptionValue(attr) === true)
          .map(([flag]) => flag);
        const suites = benchSuites.select({ only: opts.only, flags });
        if (suites.length === 0) throw new FedpeftError('USAGE', 'No benchmark suite selected.');
        const backend = await selectBackend({ force: cmd.optsWithGlobals<{ backend?: string }>().backend });
        const backendLabel = `${backend.chosen}${backend.wasmSimd ? ' (SIMD)' : ''}`;
        process.stderr.write(
          `fedpeft bench: ${suites.map((s) => s.name).join(', ')}${opts.quick ? ' (quick)' : ''}; ` +
            `default backend ${backendLabel}\n`,
        );
        const report = await runSuites({
          suites,
          quick: opts.quick === true,
          outDir: opts.out,
          backend: backendLabel,
        });
        process.stdout.write(`Wrote ${report.paths.json}\n      ${report.paths.markdown}\n`);
        if (report.failures.length > 0) {
          for (const f of report.failures) process.stderr.write(`suite ${f.suite} failed:\n${f.error}\n`);
          throw new FedpeftError(
            'BENCH_SUITE_FAILED',
            `${report.failures.length} suite(s) failed (${report.failures.map((f) => f.suite).join(', ')}); ` +
              'the results of the others were written.',
          );
        }
      });
  },
};
