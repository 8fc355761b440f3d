/**
 * `fedpeft` — one command, many subcommands. Errors a person can fix (bad flags, bad files, bad configs) are
 * printed as one clear line and exit code 2; anything else is a bug and keeps its stack trace.
 */
import { Command, CommanderError } from 'commander';
import { ZodError } from 'zod';
import { registeredCommands } from './commands/registry.ts';
import { isFedpeftError } from '../shared/errors.ts';
import { formatZodError } from '../shared/config/format-error.ts';
import './commands/index.ts';

export function buildProgram(): Command {
  const program = new Command('fedpeft')
    .description(
      'Federated fine-tuning with parameter-efficient adapters (PiCa, cLA/c³LA, LoSA, LoRA baselines)',
    )
    .option(
      '--backend <name>',
      'force a TensorFlow.js backend: tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu (env FEDPEFT_BACKEND)',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const c of registeredCommands()) c.register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (or help); help/version exit with 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ZodError) {
      process.stderr.write(`fedpeft: invalid configuration:\n${formatZodError(err)}\n`);
      return 2;
    }
    if (isFedpeftError(err)) {
      process.stderr.write(`fedpeft: ${err.message}\n`);
      return 2;
    }
    // A bug, not a usage problem: keep the stack. Printed here rather than rethrown because the wasm
    // backend's emscripten glue installs an uncaughtException handler that would dump its minified source.
    process.stderr.write(`fedpeft: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
