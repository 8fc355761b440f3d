/**
 * `fedpeft export`: write a simulated run's global adapter (after its last round, or `--round N`) as the merged
 * model (`--format safetensors`) or as a Hugging Face PEFT LoRA adapter (`--format peft`, LoRA-family methods).
 */
import type { Command } from 'commander';
import { useBackend } from '../../shared/tensor/backend.ts';
import { FedpeftError } from '../../shared/errors.ts';
import { EXPORT_FORMATS, exportRun, type ExportFormat } from '../../simulations/runner/export-run.ts';
import type { CliCommand } from './registry.ts';

interface ExportFlags {
  run: string;
  round?: string;
  format: string;
  out: string;
  json?: boolean;
}

export const exportCommand: CliCommand = {
  name: 'export',
  register(program: Command) {
    program
      .command('export')
      .description("write a run's global adapter as a merged model (safetensors) or a PEFT LoRA adapter")
      .requiredOption('--run <dir>', 'run folder written by fedpeft simulate (runs/<id>)')
      .option('--round <n>', 'round whose global adapter to export (default: the last)')
      .requiredOption('--format <format>', `output format: ${EXPORT_FORMATS.join(' | ')}`)
      .requiredOption('--out <dir>', 'folder to write into')
      .option('--json', 'print what was written as JSON')
      .addHelpText(
        'after',
        [
          '',
          'Examples:',
          '  fedpeft export --run runs/quickstart-20260101-120000Z --format safetensors --out merged/',
          '  fedpeft export --run runs/lora-run --round 3 --format peft --out peft-adapter/',
          '',
          'peft writes adapter_config.json + adapter_model.safetensors (lora_A/lora_B per module) for LoRA-family',
          'methods (lora, lora-plus, ffa-lora, hetlora); safetensors writes model.safetensors + config.json with',
          'the adapter merged into the base kernels, for every method.',
        ].join('\n'),
      )
      .action(async (flags: ExportFlags) => {
        if (!(EXPORT_FORMATS as readonly string[]).includes(flags.format))
          throw new FedpeftError(
            'INVALID_FLAG',
            `--format must be one of ${EXPORT_FORMATS.join(', ')}, got '${flags.format}'`,
          );
        let round: number | undefined;
        if (flags.round !== undefined) {
          round = Number(flags.round);
          if (!Number.isInteger(round) || round < 1)
            throw new FedpeftError(
              'INVALID_FLAG',
              `--round must be a whole number >= 1, got '${flags.round}'`,
            );
        }
        // Exact float32 results, identical on every machine: the merge is one matmul per layer.
        await useBackend('cpu');
        const result = await exportRun({
          runDir: flags.run,
          format: flags.format as ExportFormat,
          outDir: flags.out,
          ...(round !== undefined ? { round } : {}),
        });
        if (flags.json) process.stdout.write(`${JSON.stringify({ ...result, out: flags.out }, null, 2)}\n`);
        else
          process.stdout.write(
            `exported ${result.method} round ${result.round} as ${flags.format}: ${result.files.map((f) => `${flags.out}/${f}`).join(', ')}\n`,
          );
      });
  },
};
