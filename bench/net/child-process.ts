/**
 * A benchmark helper process: a TypeScript file run with `node --import tsx`, talking JSON lines (one object
 * per line on stdout, commands on stdin). Benchmarks put the coordinator and the clients in processes of
 * their own so each side's CPU time, memory and event loop are its own, as in a real deployment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (where `tsx` resolves). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type ChildMessage = { type: string } & Record<string, unknown>;

export class BenchChild {
  private readonly child: ChildProcess;
  private readonly inbox: ChildMessage[] = [];
  private waiter: (() => void) | undefined;
  private exited: string | undefined;
  private stderrTail = '';

  /** Starts `script` (a path relative to the repository root) with `options` as its one JSON argument. */
  constructor(
    script: string,
    options: unknown,
    readonly label: string,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(options)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          this.inbox.push(JSON.parse(line) as ChildMessage);
        } catch {
          continue; // not one of ours (a library printing to stdout)
        }
        this.wake();
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      // Keep the end only: enough to explain a crash without holding a chatty child's whole log.
      this.stderrTail = (this.stderrTail + text).slice(-4000);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `${label} exited (code ${code}, signal ${signal})`;
      this.wake();
    });
    this.child.on('error', (err) => {
      this.exited = `${label} could not start: ${err.message}`;
      this.wake();
    });
  }

  /** Waits for the next message of `type` (messages of other types before it are dropped). */
  async next(type: string, timeoutMs: number): Promise<ChildMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type || m.type === 'error');
      if (i >= 0) {
        const message = this.inbox.splice(0, i + 1).pop()!;
        if (message.type === 'error') throw new Error(`${this.label}: ${String(message.message)}`);
        return message;
      }
      if (this.exited) throw new Error(`${this.exited}; stderr: ${this.stderrTail.slice(-1500)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: no '${type}' message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  send(message: ChildMessage): void {
    this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /**
   * Waits up to `graceMs` for the process to exit by itself, then ends it (SIGTERM, SIGKILL if it lingers)
   * and waits for it to be gone.
   */
  async stop(graceMs = 0): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const escalate = () => {
      this.child.kill('SIGTERM');
      timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    };
    timer = setTimeout(escalate, graceMs);
    await gone;
    clearTimeout(timer);
  }

  private wake(): void {
    this.waiter?.();
  }
}

/** For the child side: print one message to the parent. */
export function tell(message: ChildMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** For the child side: call `handler` with every command the parent sends on stdin. */
export function onCommand(handler: (message: ChildMessage) => void): void {
  let buffered = '';
  process.stdin.setEncoding('utf8').on('data', (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) handler(JSON.parse(line) as ChildMessage);
    }
  });
  // The parent going away closes stdin: do not outlive it.
  process.stdin.on('end', () => process.exit(0));
}

/** For the child side: report an error to the parent instead of dying silently, then exit. */
export function reportFatal(err: unknown): never {
  tell({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
}
