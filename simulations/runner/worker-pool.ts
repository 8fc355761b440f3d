/**
 * The client worker processes of a sockets run: `workers` child processes (one per core is the sweet spot:
 * wasm threads do not work in Node, so processes are how a simulation uses several cores), each hosting
 * virtual clients. A round's participants are dealt round-robin over the workers, so each works on its share
 * in parallel; a client's state travels with its assignment, so any worker can run any client.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FedpeftError } from '../../shared/errors.ts';
import type { Scenario } from '../scenario.ts';
import type { ClientAssignment, ClientRoundReport } from './virtual-client-host.ts';
import type { FromWorker, ToWorker } from './worker-messages.ts';

const WORKER_ENTRY = fileURLToPath(new URL('./client-worker.ts', import.meta.url));

export interface WorkerPoolOptions {
  workers: number;
  scenario: Scenario;
  baseDir: string | null;
  backend: 'cpu' | 'wasm';
  token: string;
  serverLabel: string;
}

interface Worker {
  child: ChildProcess;
  /** Resolves the pending request of this worker. */
  waiting: ((m: FromWorker) => void) | undefined;
  exited: string | undefined;
}

export interface PoolRoundResult {
  reports: ClientRoundReport[];
  /** Most trainers any one worker held at once, and the workers' resident memory, after the round. */
  peakTrainers: number;
  workerRssBytes: number[];
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private nextRound = 1;

  private constructor() {}

  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool();
    const init: ToWorker = {
      type: 'init',
      scenario: options.scenario,
      baseDir: options.baseDir,
      backend: options.backend,
      token: options.token,
      serverLabel: options.serverLabel,
    };
    try {
      for (let i = 0; i < options.workers; i++) pool.workers.push(pool.spawn(i));
      await Promise.all(pool.workers.map((w) => pool.request(w, init, 'ready')));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  private spawn(index: number): Worker {
    // tsx's loader: the workers run the same TypeScript sources as this process, with no build step.
    const child = fork(WORKER_ENTRY, [], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, FEDPEFT_WORKER: String(index) },
    });
    const worker: Worker = { child, waiting: undefined, exited: undefined };
    child.on('message', (m: FromWorker) => {
      const resolve = worker.waiting;
      worker.waiting = undefined;
      resolve?.(m);
    });
    child.on('exit', (code, signal) => {
      worker.exited = `client worker ${index} exited (${signal ?? `code ${code}`})`;
      const resolve = worker.waiting;
      worker.waiting = undefined;
      resolve?.({ type: 'error', message: worker.exited });
    });
    return worker;
  }

  private request<T extends FromWorker['type']>(
    worker: Worker,
    message: ToWorker,
    expect: T,
  ): Promise<Extract<FromWorker, { type: T }>> {
    if (worker.exited) return Promise.reject(new FedpeftError('WORKER_FAILED', worker.exited));
    return new Promise((resolve, reject) => {
      worker.waiting = (m) => {
        if (m.type === expect) resolve(m as Extract<FromWorker, { type: T }>);
        else if (m.type === 'error') reject(new FedpeftError('WORKER_FAILED', `client worker: ${m.message}`));
        else
          reject(new FedpeftError('WORKER_FAILED', `client worker answered ${m.type}, expected ${expect}`));
      };
      worker.child.send(message);
    });
  }

  /** Runs a round's participants, dealt over the workers; connects them to `url`. */
  async runRound(assignments: readonly ClientAssignment[], url: string): Promise<PoolRoundResult> {
    const id = this.nextRound++;
    const shares: ClientAssignment[][] = this.workers.map(() => []);
    assignments.forEach((a, i) => shares[i % shares.length]!.push(a));
    const results = await Promise.all(
      this.workers.map(async (w, i) => {
        if (shares[i]!.length === 0) return null;
        try {
          const done = await this.request(
            w,
            { type: 'round', id, url, assignments: shares[i]! },
            'round-done',
          );
          // The coordinator waits for every participant: the other workers' clients would wait forever.
          if (done.reports.some((r) => r.outcome === 'error'))
            this.abort('a client in another worker failed');
          return done;
        } catch (err) {
          this.abort(`another worker failed: ${(err as Error).message.split('\n')[0]}`);
          throw err;
        }
      }),
    );
    const done = results.filter((r): r is NonNullable<typeof r> => r !== null);
    const reports = done.flatMap((r) => r.reports);
    return {
      reports,
      peakTrainers: Math.max(0, ...done.map((r) => r.peakTrainers)),
      workerRssBytes: done.map((r) => r.rssBytes),
    };
  }

  /** Stops every client of the round in progress in every worker. */
  abort(reason: string): void {
    for (const w of this.workers) if (!w.exited) w.child.send({ type: 'abort', reason } satisfies ToWorker);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exited) return resolve();
            const timer = setTimeout(() => w.child.kill('SIGKILL'), 5_000);
            w.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.child.send({ type: 'exit' } satisfies ToWorker);
          }),
      ),
    );
  }
}
