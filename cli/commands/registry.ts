/**
 * Subcommands register here, one file each under cli/commands/. Like tfjs's kernel registry: a name maps to
 * one definition, and registering a name twice is a programming error.
 */
import type { Command } from 'commander';

export interface CliCommand {
  name: string;
  /** Adds the subcommand (with its options, help and examples) to the program. */
  register(program: Command): void;
}

const commands = new Map<string, CliCommand>();

export function registerCommand(command: CliCommand): void {
  if (commands.has(command.name)) throw new Error(`CLI command '${command.name}' is registered twice`);
  commands.set(command.name, command);
}

export function registeredCommands(): CliCommand[] {
  return [...commands.values()];
}
