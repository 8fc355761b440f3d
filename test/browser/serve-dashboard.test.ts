/**
 * `fedpeft serve` after its run is over, as a person runs it: a real coordinator process (test-gpt, PiCa, two
 * rounds) and a real `fedpeft join` client; with `--keep-dashboard` (what a terminal gets by default) the
 * coordinator writes its report and keeps serving the dashboard after the last round. Headless Chromium then
 * opens the page of the finished run and checks it against the summary.json the run left; Ctrl-C (SIGINT)
 * ends the process with exit code 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../server/dashboard/page/format.ts';
import { chromiumSkipReason, launchChromium, type ChromiumSession } from './launch.ts';

const skip = chromiumSkipReason();
if (skip) console.warn(`[serve dashboard browser test] skipped: ${skip}`);

const bin = fileURLToPath(new URL('../../bin/fedpeft.js', import.meta.url));
const env = { ...process.env, FEDPEFT_BACKEND: 'cpu' };
const TOKEN = 'serve-dashboard-token-0123456789';
const ROUNDS = 2;

let root: string;
let browser: ChromiumSession | undefined;
const children: ChildProcess[] = [];

function start(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!predicate()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skip !== null)('the fedpeft serve dashboard after the run', () => {
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-serve-dashboard-'));
    browser = await launchChromium({ webgpu: false });
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await browser?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('stays up with the finished run, matching summary.json, until Ctrl-C', async () => {
    const config = path.join(root, 'coordinator.yaml');
    await writeFile(
      config,
      [
        `run: { id: served, seed: 3, rounds: ${ROUNDS} }`,
        'model: { name: test-gpt }',
        'method: { name: pica, config: { r: 4, roles: [q, v] } }',
        'round: { localSteps: 2, batchSize: 2, deadlineMs: 60000 }',
        'strategy: { name: fedavg, sampling: { fraction: 1, minClients: 1 } }',
        'transport: { port: 0, heartbeatIntervalMs: 2000 }',
        `auth: { tokens: [${TOKEN}] }`,
        '',
      ].join('\n'),
    );
    const data = path.join(root, 'notes.txt');
    await writeFile(
      data,
      Array.from({ length: 200 }, (_, i) => `round ${i % 7} of the shared adapter, trained locally`).join(
        '\n',
      ),
    );
    const runDir = path.join(root, 'run');
    const server = start(['serve', '--config', config, '--run-dir', runDir, '--keep-dashboard']);
    await until(() => /live dashboard: (http:\/\/\S+?)\/?\s/.test(server.out()), 60_000, 'the dashboard URL');
    const url = /live dashboard: (http:\/\/\S+?)\/?\s/.exec(server.out())![1]!;
    const client = start([
      'join',
      '--server',
      url,
      '--token',
      TOKEN,
      '--data',
      `file:${data}`,
      '--name',
      'laptop',
      '--state-dir',
      path.join(root, 'client-state'),
    ]);
    expect(await client.exited).toBe(0);
    await until(() => /the dashboard stays up at/.test(server.out()), 60_000, 'the run to end');
    expect(server.out()).toMatch(
      new RegExp(`report: ${runDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/report\\.md`),
    );
    expect(server.child.exitCode).toBeNull(); // still serving

    const summary = JSON.parse(await readFile(path.join(runDir, 'summary.json'), 'utf8')) as {
      rounds: number;
      bytes_up: number;
      bytes_down: number;
      run_id: string;
    };
    expect(summary.rounds).toBe(ROUNDS);
    const report = await readFile(path.join(runDir, 'report.md'), 'utf8');
    expect(report).toContain(`Finished after ${ROUNDS} of ${ROUNDS} rounds`);

    const page = await browser!.newPage();
    expect((await page.goto(`${url}/`))?.status()).toBe(200);
    await page.waitForFunction(() => document.getElementById('phase')?.textContent === 'finished', null, {
      timeout: 30_000,
    });
    expect(await page.textContent('#run-id')).toBe(summary.run_id);
    expect(await page.textContent('#round-counter')).toBe(`${ROUNDS} / ${ROUNDS}`);
    expect(await page.textContent('#bytes-up')).toBe(formatBytes(summary.bytes_up));
    expect(await page.textContent('#bytes-down')).toBe(formatBytes(summary.bytes_down));
    expect(await page.$eval('#chart-loss svg', (e) => Number((e as SVGElement).dataset.points))).toBe(ROUNDS);

    server.child.kill('SIGINT');
    expect(await server.exited).toBe(0);
  }, 150_000);
});
