/**
 * `fedpeft export`: write a simulated run's global adapter (after its last round, or `--round N`) as the merged
 * Hugging Face model folder (`--format hf`; `--round 0` is the run's base) or as a standard PEFT LoRA adapter
 * (`--format peft`, every method whose update is low rank).
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
  base?: string;
  json?: boolean;
}

export const exportCommand: CliCommand = {
  name: 'export',
  register(program: Command) {
    program
      .command('export')
      .description("write a run's global adapter as a merged Hugging Face model (hf) or a PEFT LoRA adapter")
      .requiredOption('--run <dir>', 'run folder written by fedpeft simulate (runs/<id>)')
      .option('--round <n>', 'round whose global adapter to export (default: the last; 0: the base, hf only)')
      .requiredOption('--format <format>', `output format: ${EXPORT_FORMATS.join(' | ')}`)
      .requiredOption('--out <dir>', 'folder to write into')
      .option('--base <dir>', "peft: HF folder of the run's base (written when missing; default <out>-base)")
      .option('--json', 'print what was written as JSON')
      .addHelpText(
        'after',
        [
          '',
          'Examples:',
          '  fedpeft export --run runs/quickstart-20260101-120000Z --format hf --out merged/',
          '  fedpeft export --run runs/quickstart-20260101-120000Z --round 0 --format hf --out base/',
          '  fedpeft export --run runs/lora-run --round 3 --format peft --out adapter/ --base base/',
          '',
          'hf writes a Hugging Face model folder (config.json, model.safetensors, tokenizer files) with the adapter',
          'merged in, for every method. peft writes adapter_config.json + adapter_model.safetensors (a standard',
          'LoRA adapter; fedpeft metadata in fedpeft_export.json) for every method whose update is low rank; full',
          'fine-tuning and LoSA (masked) are refused — use hf for them.',
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
          if (!Number.isInteger(round) || round < 0)
            throw new FedpeftError(
              'INVALID_FLAG',
              `--round must be a whole number >= 0 (0 is the base), got '${flags.round}'`,
            );
        }
        // Exact float32 results, identical on every machine: the merge is one matmul per layer.
        await useBackend('cpu');
        const result = await exportRun({
          runDir: flags.run,
          format: flags.format as ExportFormat,
          outDir: flags.out,
          ...(flags.base !== undefined ? { baseDir: flags.base } : {}),
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
