/** The list of registered subcommands (one import + one line per command). */
import { registerCommand } from './registry.ts';
import { doctorCommand } from './doctor.ts';

registerCommand(doctorCommand);
