/**
 * `fedpeft join`: run one federated client against a coordinator. It trains the run's adapter on local data
 * (a shipped corpus slice or a text file), sends only the adapter's shared tensors, keeps everything else in
 * its state directory, and survives disconnects and restarts (same session, resumed upload). Ctrl-C leaves
 * politely; running the same command again continues where it stopped.
 */
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { readFileSync, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { selectBackend } from '../../shared/tensor/backend.ts';
import { ClientRuntime } from '../../client/runtime.ts';
import { socketIoConnector } from '../../client/connection.ts';
import { FileStateStore } from '../../client/file-state-store.ts';
import { LocalLmData } from '../../client/local-lm-data.ts';
import { formatDataSpec, parseDataSpec, resolveDataSpec } from '../../client/data-spec.ts';
import { ClientTrainer, runContextLength, type ClientRunConfig } from '../../client/trainer.ts';
import { runBaseDir } from '../../client/run-base.node.ts';
import { jsonLineLogger } from '../../server/logger.ts';
import { UserError } from '../errors.ts';
import { checkpointDirOf } from '../../shared/model/hf/hf-base.node.ts';
import type { CliCommand } from './registry.ts';
import { parseTraitFlags, type TraitFlags } from './join-traits.ts';
import {
  DEFAULT_GIVE_UP_AFTER_S,
  parseGiveUpAfter,
  unreachableError,
  withUnreachableNotice,
} from './join-unreachable.ts';

interface JoinFlags extends TraitFlags {
  server: string;
  token?: string;
  data: string;
  name?: string;
  stateDir?: string;
  base?: string;
  runConfig?: string;
  personalSteps: string;
  maxRank?: string;
  float16?: boolean;
  verbose?: boolean;
  giveUpAfter: string;
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^-|-$/g, '') || 'client'
  );
}

/** `--run-config` as inline JSON or a JSON file: `{model, modelConfig?, method, methodConfig?, seed}`. */
function parseRunConfig(value: string | undefined): ClientRunConfig | undefined {
  if (value === undefined) return undefined;
  const text = existsSync(value) ? readFileSync(value, 'utf8') : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(
      `--run-config must be JSON or a JSON file, e.g. '{"model":"tiny-gpt","method":"pica","seed":42}'`,
    );
  }
  const r = parsed as Partial<ClientRunConfig>;
  if (typeof r.model !== 'string' || typeof r.method !== 'string' || typeof r.seed !== 'number') {
    throw new UserError('--run-config needs "model" (string), "method" (string) and "seed" (number)');
  }
  return {
    model: r.model,
    method: r.method,
    seed: r.seed,
    ...(r.modelConfig ? { modelConfig: r.modelConfig } : {}),
    ...(r.methodConfig ? { methodConfig: r.methodConfig } : {}),
  };
}

export const joinCommand: CliCommand = {
  name: 'join',
  register(program: Command) {
    program
      .command('join')
      .description(
        "run a federated client: train the run's adapter on local data and send only its shared part",
      )
      .requiredOption('--server <url>', 'coordinator address, e.g. http://localhost:8080')
      .option('--token <token>', 'join token for the run (default $FEDPEFT_TOKEN)')
      .requiredOption(
        '--data <spec>',
        "local data: '<corpus>:<attribute>=<value>' (e.g. 'sotu:president=Abraham Lincoln'), '<corpus>', or 'file:<path>'",
      )
      .option('--name <name>', 'client name shown to the coordinator (default: host name)')
      .option(
        '--state-dir <dir>',
        'private state: session, upload in flight, optimizer, personal adapter (default ~/.fedpeft/clients/<name>)',
      )
      .option(
        '--base <dir>',
        "base checkpoint directory or hf:<dir> (a Hugging Face folder); when the run names a base, it must be that one (default: download the run's base, or build the seeded one)",
      )
      .option(
        '--run-config <json|file>',
        'the run, if known in advance: {"model","method","methodConfig","seed"} (first join then carries signatures)',
      )
      .option('--personal-steps <n>', 'extra local steps that refine only the personal adapter', '0')
      .option(
        '--max-rank <r>',
        'largest adapter rank this device trains; methods with per-client ranks (pica, losa, hetlora, flora) then train at most r',
      )
      .option('--float16', 'upload shared tensors as float16 (half the bytes)')
      .option(
        '--device-class <name>',
        "eligibility trait: this device's class as the deployment names them (phone, laptop, server, ...)",
      )
      .option('--battery <level>', 'eligibility trait: battery level in [0, 1] (leave out on mains power)')
      .option('--charging', 'eligibility trait: the device is charging')
      .option('--unmetered', 'eligibility trait: the device is on an unmetered network')
      .option(
        '--give-up-after <s>',
        'exit (code 2) once the coordinator has been unreachable this many seconds',
        String(DEFAULT_GIVE_UP_AFTER_S),
      )
      .option('--verbose', 'also print debug lines')
      .addHelpText(
        'after',
        "\nExamples:\n  fedpeft join --server http://localhost:8080 --token $TOKEN --data 'sotu:president=Abraham Lincoln'\n" +
          '  fedpeft join --server https://fl.example.org --token $TOKEN --data spam:group=easy-ham-1 --name mailbox-7\n' +
          '  fedpeft join --server http://localhost:8080 --token $TOKEN --data file:./notes.txt --state-dir ./state',
      )
      .action(async (flags: JoinFlags, cmd: Command) => {
        const spec = parseDataSpec(flags.data);
        const token = flags.token ?? process.env.FEDPEFT_TOKEN;
        if (!token) throw new UserError('--token is required (or set FEDPEFT_TOKEN)');
        const personalSteps = Number(flags.personalSteps);
        if (!Number.isInteger(personalSteps) || personalSteps < 0)
          throw new UserError(
            `--personal-steps must be a non-negative integer, got '${flags.personalSteps}'`,
          );
        const maxRank = flags.maxRank === undefined ? 0 : Number(flags.maxRank);
        if (flags.maxRank !== undefined && (!Number.isInteger(maxRank) || maxRank < 1 || maxRank > 4096))
          throw new UserError(`--max-rank must be an integer in 1..4096, got '${flags.maxRank}'`);
        const giveUpAfterS = parseGiveUpAfter(flags.giveUpAfter);
        const traits = parseTraitFlags(flags);
        const run = parseRunConfig(flags.runConfig);
        const name = flags.name ?? hostname();
        const stateDir = flags.stateDir ?? join(homedir(), '.fedpeft', 'clients', slug(name));
        const connector = socketIoConnector(flags.server);
        const documents = resolveDataSpec(spec);
        const backend = await selectBackend({ force: cmd.optsWithGlobals<{ backend?: string }>().backend });
        const logger = withUnreachableNotice(
          jsonLineLogger((line) => process.stdout.write(line), flags.verbose ? 'debug' : 'info'),
          flags.server,
          giveUpAfterS,
        );
        logger.log('info', 'client-starting', {
          backend: backend.chosen,
          data: formatDataSpec(spec),
          documents: documents.length,
          stateDir,
          server: flags.server,
          giveUpAfterS,
        });
        const runtime = new ClientRuntime({
          connector,
          authToken: token,
          clientName: name,
          store: new FileStateStore(stateDir),
          logger,
          ...(run ? { run } : {}),
          float16Uploads: flags.float16 ?? false,
          ...(maxRank > 0 ? { maxRank } : {}),
          traits,
          giveUpAfterMs: giveUpAfterS * 1000,
          createTrainer: async (r) => {
            const localBase = flags.base ? await checkpointDirOf(flags.base) : undefined;
            // A run on a distributed base trains on exactly its bytes: a matching --base or a verified download.
            const baseCheckpoint = r.base
              ? await runBaseDir({
                  base: r.base,
                  serverUrl: flags.server,
                  token,
                  ...(localBase ? { localDir: localBase } : {}),
                  log: (event, fields) => logger.log('info', event, fields),
                })
              : localBase;
            return ClientTrainer.create({
              run: r,
              data: LocalLmData.fromDocuments(documents, r.seed, formatDataSpec(spec), {
                contextLength: runContextLength(r),
              }),
              label: name,
              personalSteps,
              ...(baseCheckpoint ? { baseCheckpoint } : {}),
            });
          },
        });
        const interrupt = () => runtime.stop('interrupted by the user');
        process.once('SIGINT', interrupt);
        process.once('SIGTERM', interrupt);
        try {
          const outcome = await runtime.run().catch((err: unknown) => {
            throw unreachableError(err, flags.server, giveUpAfterS);
          });
          logger.log('info', 'client-finished', {
            runComplete: outcome.runComplete,
            committedRounds: outcome.committedRounds,
            lastCommittedRound: outcome.lastCommittedRound,
          });
        } finally {
          process.off('SIGINT', interrupt);
          process.off('SIGTERM', interrupt);
          runtime.dispose();
        }
      });
  },
};
