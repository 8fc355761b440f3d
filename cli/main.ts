/**
 * `fedpeft` — one command, many subcommands. Errors a person can fix (bad flags, bad files, bad configs) are
 * printed as one clear line and exit code 2; anything else is a bug and keeps its stack trace.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ZodError } from 'zod';
import { registeredCommands } from './commands/registry.ts';
import { FedpeftError, isFedpeftError } from '../shared/errors.ts';
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
    .option(
      '--plugin <module>',
      'load a module before the command runs, e.g. one that registers an adapter method (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.hook('preAction', async () => {
    for (const plugin of program.opts<{ plugin: string[] }>().plugin) await loadPlugin(plugin);
  });
  for (const c of registeredCommands()) c.register(program);
  return program;
}

/**
 * User code (adapter methods, strategies) joins the registries by being imported: a plugin is an ES module (or
 * TypeScript, through tsx) whose top level calls `registerAdapterMethod(...)` and the like. Relative paths are
 * taken from the working directory; bare names resolve as packages.
 */
async function loadPlugin(specifier: string): Promise<void> {
  const isPath = specifier.startsWith('.') || specifier.startsWith('/');
  const url = isPath ? pathToFileURL(resolve(process.cwd(), specifier)).href : specifier;
  try {
    await import(url);
  } catch (err) {
    throw new FedpeftError(
      'PLUGIN',
      `cannot load plugin '${specifier}': ${(err as Error).message.split('\n')[0]}`,
    );
  }
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
