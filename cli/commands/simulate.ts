/**
 * `fedpeft simulate`: run a scenario (a preset or a YAML file) as a simulated federation — the real
 * coordinator and client runtimes over loopback sockets or in-process links — with the live per-round table,
 * and a run folder with metrics.jsonl, summary.json, report.md and plots. `npm start` is
 * `fedpeft simulate --preset quickstart`.
 */
import type { Command } from 'commander';
import { selectBackend } from '../../shared/tensor/backend.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { listPresets, loadScenario } from '../../simulations/load-scenario.ts';
import type { Override } from '../../simulations/scenario-overrides.ts';
import { simulate } from '../../simulations/simulate.ts';
import { ScenarioFleetRunner } from '../../simulations/runner/fleet-runner.ts';
import { RunDashboard } from '../../simulations/dashboard/run-dashboard.ts';
import { resolveBase } from '../../simulations/runner/base-model.ts';
import { keepDashboardOpen, keepsDashboard } from './dashboard-lifetime.ts';
import { withInterrupt } from './pretrain.ts';
import { pretrainProgress } from './pretrain-progress.ts';
import type { CliCommand } from './registry.ts';

interface SimulateFlags {
  preset?: string;
  compare?: string;
  set: string[];
  transport?: string;
  out?: string;
  json?: boolean;
  /** `--no-dashboard` sets it false. */
  dashboard: boolean;
  dashboardPort?: string;
  exitWhenDone?: boolean;
  keepDashboard?: boolean;
}

function dashboardPort(flag: string | undefined): number {
  if (flag === undefined) return 0;
  const port = Number(flag);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new FedpeftError('INVALID_FLAG', `--dashboard-port must be an integer in 0..65535, got '${flag}'`);
  return port;
}

/** Flags that are scenario fields, as `--set` overrides (applied after the file's own values). */
export function flagOverrides(flags: SimulateFlags): Array<string | Override> {
  const out: Array<string | Override> = [...flags.set];
  if (flags.transport !== undefined) {
    if (flags.transport !== 'sockets' && flags.transport !== 'in-process')
      throw new FedpeftError(
        'INVALID_FLAG',
        `--transport must be sockets or in-process, got '${flags.transport}'`,
      );
    out.push({ path: ['transport'], value: flags.transport, source: `--transport ${flags.transport}` });
  }
  if (flags.out !== undefined)
    out.push({ path: ['output', 'dir'], value: flags.out, source: `--out ${flags.out}` });
  if (flags.compare !== undefined) {
    const methods = flags.compare
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    if (methods.length === 0)
      throw new FedpeftError('INVALID_FLAG', '--compare needs methods, e.g. --compare pica,lora');
    out.push({ path: ['compare', 'methods'], value: methods, source: `--compare ${flags.compare}` });
  }
  return out;
}

async function run(
  scenarioRef: string | undefined,
  flags: SimulateFlags,
  backendFlag?: string,
): Promise<void> {
  if (scenarioRef !== undefined && flags.preset !== undefined)
    throw new FedpeftError('INVALID_FLAG', 'give a scenario file or --preset, not both');
  const ref = scenarioRef ?? flags.preset;
  if (ref === undefined)
    throw new FedpeftError(
      'INVALID_FLAG',
      'name a scenario: fedpeft simulate <scenario.yaml> or --preset quickstart',
    );
  const { scenario } = loadScenario(ref, flagOverrides(flags));
  const backend = await selectBackend({ force: backendFlag });
  // With --json the table and progress lines go to stderr, so stdout is one JSON object.
  const write = flags.json
    ? (t: string) => void process.stderr.write(t)
    : (t: string) => void process.stdout.write(t);
  write(`fedpeft simulate ${scenario.name}: backend ${backend.chosen}${backend.forced ? ' (forced)' : ''}\n`);
  const dashboard = flags.dashboard
    ? await RunDashboard.start({ port: dashboardPort(flags.dashboardPort) })
    : undefined;
  if (dashboard) write(`live dashboard: ${dashboard.url}/\n`);
  const progress = pretrainProgress();
  const runner = new ScenarioFleetRunner({ pretrainEvents: progress.events });
  try {
    let interrupted: AbortSignal | undefined;
    const result = await withInterrupt((signal) => {
      interrupted = signal;
      return simulate(runner, scenario, {
        write,
        signal,
        // Found or pretrained once, before the first run, so no method's time includes it.
        prepareBase: async (s, sig) => {
          const base = await resolveBase(s, {
            log: (line) => write(`${line}\n`),
            pretrainEvents: progress.events,
            ...(sig ? { signal: sig } : {}),
          });
          progress.stop();
          return { description: base.description, pretrainedNow: base.pretrained?.created ?? false };
        },
        ...(dashboard ? { observer: dashboard } : {}),
      });
    });
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify(
          {
            report: result.reportPath,
            ...(result.comparisonDir ? { comparison: result.comparisonDir } : {}),
            runs: result.runs.map((r) => ({ dir: r.dir, summary: r.summary })),
          },
          null,
          2,
        )}\n`,
      );
    }
    progress.stop();
    if (dashboard)
      await keepDashboardOpen({
        url: dashboard.url,
        // A Ctrl-C during the run means "stop", not "stop training but keep the page".
        keepOpen: keepsDashboard(flags) && !(interrupted?.aborted ?? false),
        write: (t) => void process.stderr.write(t),
        close: () => dashboard.close(),
      });
  } finally {
    progress.stop();
    await dashboard?.close();
  }
}

export const simulateCommand: CliCommand = {
  name: 'simulate',
  register(program: Command) {
    program
      .command('simulate')
      .description(
        'run a simulated federation from a scenario (coordinator + client workers) and write a report',
      )
      .argument('[scenario]', 'scenario YAML file (or a preset name)')
      .option('--preset <name>', `a shipped scenario: ${listPresets().join(', ')}`)
      .option('--compare <methods>', 'run once per method and write a comparison report, e.g. pica,lora,cla')
      .option(
        '--set <key=value>',
        'override a scenario field (repeatable), e.g. --set training.rounds=3',
        (value: string, previous: string[]) => [...previous, value],
        [] as string[],
      )
      .option('--transport <kind>', 'sockets (real loopback socket.io) or in-process (large fleets)')
      .option('--out <dir>', 'parent folder of the run folder (default: runs)')
      .option('--json', 'print the run summaries as one JSON object on stdout (the table goes to stderr)')
      .option('--no-dashboard', 'do not serve the live dashboard (on by default, loopback only)')
      .option('--dashboard-port <port>', 'port of the live dashboard (default: any free port, printed)')
      .option(
        '--exit-when-done',
        'exit when the run is over instead of keeping the dashboard up until Ctrl-C',
      )
      .option(
        '--keep-dashboard',
        'keep the dashboard up after the run even without a terminal (default in one)',
      )
      .addHelpText(
        'after',
        [
          '',
          'Examples:',
          '  fedpeft simulate --preset quickstart            # what `npm start` runs',
          '  fedpeft simulate my-scenario.yaml --set training.rounds=3 --set seed=1',
          '  fedpeft simulate --preset quickstart --compare pica,lora,ffa-lora',
          '  fedpeft simulate --preset quickstart --transport in-process --out /tmp/runs --json --exit-when-done',
          '',
          'The run folder (runs/<id>/) holds metrics.jsonl, summary.json, clients.json, report.md and SVG plots;',
          'adapters/round-<N>.safetensors feed `fedpeft export`. The live dashboard (URL printed at the start)',
          'stays up after the run until Ctrl-C when run in a terminal (--exit-when-done: exit at once; without a',
          'terminal it exits unless --keep-dashboard); --no-dashboard turns it off.',
        ].join('\n'),
      )
      .action(async (scenario: string | undefined, flags: SimulateFlags, cmd: Command) => {
        await run(scenario, flags, cmd.optsWithGlobals<{ backend?: string }>().backend);
      });
  },
};
