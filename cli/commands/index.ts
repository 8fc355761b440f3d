/** The list of registered subcommands (one import + one line per command). */
import { registerCommand } from './registry.ts';
import { doctorCommand } from './doctor.ts';
import { benchCommand } from './bench.ts';
import { dataCommand } from './data.ts';
import { privacyCommand } from './privacy.ts';
import { methodsCommand } from './methods.ts';

registerCommand(doctorCommand);
registerCommand(benchCommand);
registerCommand(dataCommand);
registerCommand(privacyCommand);
registerCommand(methodsCommand);
