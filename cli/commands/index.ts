/** The list of registered subcommands (one import + one line per command). */
import { registerCommand } from './registry.ts';
import { doctorCommand } from './doctor.ts';
import { benchCommand } from './bench.ts';
import { dataCommand } from './data.ts';
import { privacyCommand } from './privacy.ts';
import { serveCommand } from './serve.ts';
import { methodsCommand } from './methods.ts';
import { pretrainCommand } from './pretrain.ts';
import { finetuneCommand } from './finetune.ts';
import { joinCommand } from './join.ts';
import { simulateCommand } from './simulate.ts';
import { exportCommand } from './export.ts';

registerCommand(doctorCommand);
registerCommand(benchCommand);
registerCommand(dataCommand);
registerCommand(privacyCommand);
registerCommand(serveCommand);
registerCommand(methodsCommand);
registerCommand(pretrainCommand);
registerCommand(finetuneCommand);
registerCommand(joinCommand);
registerCommand(simulateCommand);
registerCommand(exportCommand);
