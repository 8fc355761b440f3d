/**
 * `fedpeft serve`: run a coordinator. With no flags it serves a loopback PiCa federation on tiny-gpt — the
 * presets' shared pretrained base (cli/commands/serve-defaults.ts) — and prints a generated join token; the
 * dashboard stays up after the run until Ctrl-C (in a terminal; cli/commands/dashboard-lifetime.ts); `--config coordinator.yaml` sets everything (see server/config.ts), and
 * `--resume` continues a run from its last checkpoint and round journal, accepting its clients' sessions back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { FedpeftError } from '../../shared/errors.ts';
import { useBackend } from '../../shared/tensor/backend.ts';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { Coordinator } from '../../server/coordinator.ts';
import { newSecret } from '../../server/client-session.ts';
import { jsonLineLogger } from '../../server/logger.ts';
import { clockRunId, resolveRunId } from '../../server/run-identity.ts';
import { assertFreshRunDir, moveEarlierRunAside } from '../../server/run-dir-guard.ts';
import { assertUsableRunDir } from '../../server/durability/run-dir-check.ts';
import { describeMethod } from '../../server/method-state.ts';
import { createBaseRoute } from '../../server/base-route.ts';
import { resolveRunBase } from '../../server/run-base.ts';
import { startSocketIoServer } from '../../server/transport/socket-io-server.ts';
import { createJoinRoute, joinUrl } from '../../web/join-route.ts';
import type { CliCommand } from './registry.ts';
import { keepsDashboard, untilStopped } from './dashboard-lifetime.ts';
import { pretrainProgress } from './pretrain-progress.ts';
import { serveBaseSpec } from './serve-defaults.ts';
import { writeServeReport } from './serve-report.ts';

interface ServeOptions {
  config?: string;
  resume?: boolean;
  fresh?: boolean;
  port?: string;
  host?: string;
  runDir?: string;
  quiet?: boolean;
  seededBase?: boolean;
  exitWhenDone?: boolean;
  keepDashboard?: boolean;
}

function loadConfigFile(path: string): unknown {
  if (!existsSync(path)) throw new FedpeftError('INVALID_CONFIG', `config file ${path} does not exist`);
  try {
    return YAML.parse(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `config file ${path} is not valid YAML: ${(err as Error).message}`,
    );
  }
}

/** A secret kept in the run directory so a resumed run keeps accepting the same clients. */
async function persistentSecret(path: string): Promise<{ value: string; created: boolean }> {
  try {
    return { value: (await readFile(path, 'utf8')).trim(), created: false };
  } catch {
    const value = newSecret();
    await writeFile(path, `${value}\n`, { mode: 0o600 });
    return { value, created: true };
  }
}

async function serve(opts: ServeOptions): Promise<void> {
  const raw = (opts.config ? loadConfigFile(opts.config) : {}) as Record<string, unknown>;
  const config = parseCoordinatorConfig(raw, opts.config ?? 'coordinator config');
  if (opts.port !== undefined) {
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new FedpeftError('INVALID_CONFIG', `--port must be an integer in 0..65535, got ${opts.port}`);
    }
    config.transport.port = port;
  }
  if (opts.host) config.transport.host = opts.host;
  const dirFromConfig = opts.runDir ?? config.run.dir;
  if (opts.resume && !dirFromConfig) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      '--resume needs the run directory: pass --run-dir or set run.dir',
    );
  }
  // Without a run directory the id names it, so a new id is chosen first; otherwise the directory's stored
  // id wins (server/run-identity.ts), so a resumed run keeps the id its clients stored.
  const runDir = resolve(dirFromConfig ?? join('runs', config.run.id ?? clockRunId()));
  if (opts.resume && !existsSync(runDir)) {
    throw new FedpeftError('INVALID_CONFIG', `--resume: run directory ${runDir} does not exist`);
  }
  if (opts.resume && opts.fresh)
    throw new FedpeftError('INVALID_CONFIG', 'give --resume or --fresh, not both');
  if (!opts.resume) await assertFreshRunDir(runDir, { fresh: opts.fresh ?? false });
  await assertUsableRunDir(runDir);
  if (opts.fresh) await moveEarlierRunAside(runDir);
  const runId = await resolveRunId(runDir, {
    configured: config.run.id ?? (dirFromConfig ? undefined : basename(runDir)),
    resume: opts.resume ?? false,
  });
  const logger = jsonLineLogger((line) => process.stderr.write(line), opts.quiet ? 'warn' : 'info');
  await useBackend('cpu');
  const baseSpec = serveBaseSpec(config, opts.seededBase ?? false);
  const progress = pretrainProgress();
  const base = baseSpec
    ? await resolveRunBase(baseSpec, {
        log: (line) => logger.log('info', 'base', { message: line }),
        events: progress.events,
      }).finally(() => progress.stop())
    : undefined;
  if (base) logger.log('info', 'base-ready', { dir: base.dir, sha256: base.sha256, bytes: base.bytes });
  // An hf:<dir> base is the model: its config.json sets model.name / model.config (model.config still overrides).
  if (base?.model)
    config.model = {
      ...config.model,
      name: base.model.name,
      config: { ...base.model.config, ...config.model.config },
    };
  const method = describeMethod({
    model: config.model.name,
    modelConfig: config.model.config,
    method: config.method.name,
    methodConfig: config.method.config,
    seed: config.run.seed,
    ...(base ? { base } : {}),
  });
  const generated = config.auth.tokens.length === 0 && !config.auth.tokenFile;
  const joinToken = generated ? await persistentSecret(join(runDir, 'join-token')) : undefined;
  if (joinToken) config.auth.tokens = [joinToken.value];
  const admin = config.auth.adminToken ?? (await persistentSecret(join(runDir, 'admin-token'))).value;
  const coordinator = await Coordinator.create({
    config,
    method,
    runId,
    runDir,
    logger,
    resume: opts.resume ?? false,
  });
  const verifyToken = (token: string) => {
    try {
      coordinator.tokens.verify(token);
      return true;
    } catch {
      return false;
    }
  };
  const baseRoute = base
    ? createBaseRoute({
        dir: base.dir,
        sha256: base.sha256,
        verifyToken,
        onError: (message) => logger.log('warn', 'base-send-failed', { message }),
      })
    : null;
  // The browser client at /join; the coordinator runs without it when the bundle cannot be built.
  const joinRoute = await createJoinRoute({
    run: {
      model: method.model,
      modelConfig: method.modelConfig,
      method: method.method,
      methodConfig: method.methodConfig,
      seed: config.run.seed,
    },
    verifyToken,
  }).catch((err: unknown) => {
    logger.log('warn', 'join-page-unavailable', { message: (err as Error).message });
    return null;
  });
  const server = await startSocketIoServer(coordinator, {
    routes: [baseRoute, joinRoute].filter((r) => r !== null),
    host: config.transport.host,
    port: config.transport.port,
    ...(config.transport.tls ? { tls: config.transport.tls } : {}),
    adminToken: admin,
    dashboard: config.dashboard,
    logger,
  });
  process.stdout.write(
    [
      `fedpeft coordinator ${runId}: ${method.method} on ${method.model}, ${config.run.rounds} rounds`,
      ...(base ? [`base checkpoint: ${base.dir} (sha256 ${base.sha256}, ${base.bytes} bytes)`] : []),
      `listening on ${server.url} (GET ${server.url}/status)`,
      ...(config.dashboard.enabled
        ? [`live dashboard: ${server.url}/${config.dashboard.token ? '?token=<dashboard.token>' : ''}`]
        : []),
      ...(joinRoute ? [`browser clients join at: ${joinUrl(server.url, joinToken?.value)}`] : []),
      ...(joinRoute && base
        ? [
            '  (browser clients cannot fetch a base checkpoint yet: serve --seeded-base for browser-only runs)',
          ]
        : []),
      `run directory: ${runDir}`,
      ...(joinToken ? [`join token: ${joinToken.value}  (also in ${join(runDir, 'join-token')})`] : []),
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    void coordinator.stop(`coordinator received ${signal}`);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  const startedAt = new Date();
  coordinator.start();
  await coordinator.whenFinished();
  // Let the final Goodbye frames leave before the sockets close.
  await new Promise((r) => setTimeout(r, 200));
  await coordinator.stop('run finished');
  const reportPath = await writeServeReport({
    runDir,
    runId,
    model: method.model,
    method: method.method,
    methodConfig: method.methodConfig,
    base: base ? `${base.dir} (sha256 ${base.sha256})` : null,
    totalRounds: config.run.rounds,
    seed: config.run.seed,
    startedAt,
    outcome: stopping ? 'stopped' : 'finished',
  }).catch((err: unknown) => {
    logger.log('warn', 'report-failed', { message: (err as Error).message });
    return null;
  });
  process.stdout.write(
    `run ${runId} ${stopping ? 'stopped' : 'finished'} after ${coordinator.completedRounds} rounds\n` +
      (reportPath ? `report: ${reportPath}\n` : ''),
  );
  if (!stopping && config.dashboard.enabled && keepsDashboard(opts)) {
    process.stdout.write(
      `the dashboard stays up at ${server.url}/ — press Ctrl-C to exit (--exit-when-done exits at once)\n`,
    );
    await untilStopped();
  }
  await server.close();
}

export const serveCommand: CliCommand = {
  name: 'serve',
  register(program: Command) {
    program
      .command('serve')
      .description('run a coordinator: rounds over socket.io, checkpoints, resume after a crash')
      .option(
        '-c, --config <file>',
        'coordinator config (YAML); defaults serve pica on the shared pretrained tiny-gpt, loopback',
      )
      .option('--resume', 'continue the run in --run-dir / run.dir from its last checkpoint and journal')
      .option('--fresh', 'start a new run even though --run-dir / run.dir holds checkpoints or a journal')
      .option('-p, --port <port>', 'port to listen on (0 = any free port); overrides transport.port')
      .option('--host <host>', 'address to bind; overrides transport.host (default 127.0.0.1)')
      .option('--run-dir <dir>', 'run directory (checkpoints, journal, metrics.jsonl); overrides run.dir')
      .option('-q, --quiet', 'log warnings and errors only')
      .option(
        '--seeded-base',
        'without model.base, train on the seeded initialisation, not the shared pretrained base',
      )
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
        '\nExamples:\n  fedpeft serve\n  fedpeft serve --config coordinator.yaml --port 9000\n' +
          '  fedpeft serve --config coordinator.yaml --run-dir runs/exp1 --resume',
      )
      .action(async (opts: ServeOptions) => serve(opts));
  },
};
