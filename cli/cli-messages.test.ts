/**
 * The CLI as a user meets it, as a real process (bin/fedpeft.js): exit codes, what goes to stdout and stderr,
 * and that each error names the flag it comes from (issue 20, "CLI noise and rough edges").
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METHODS_TABLE_COLUMNS } from './commands/methods.ts';

const BIN = join(import.meta.dirname, '../bin/fedpeft.js');

function fedpeft(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 100_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A loopback port nothing listens on (bound, then closed again). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('fedpeft CLI messages', () => {
  it('join to a port with no coordinator says where it tried and how to stop, then exits 2 after --give-up-after', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = fedpeft([
      'join',
      '--server',
      url,
      '--token',
      'token-0123456789abcdef',
      '--data',
      'moby-dick',
      '--state-dir',
      mkdtempSync(join(tmpdir(), 'fedpeft-join-')),
      '--give-up-after',
      '1',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot reach the coordinator at ${url}`);
    expect(r.stderr).toMatch(/Ctrl-C to stop/);
    expect(r.stderr).toMatch(
      new RegExp(`fedpeft: the coordinator at ${url} was unreachable .*--give-up-after 1`),
    );
  });

  it('--give-up-after must be a positive number of seconds', () => {
    const r = fedpeft([
      'join',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'token-0123456789abcdef',
      '--data',
      'moby-dick',
      '--give-up-after',
      'soon',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--give-up-after must be a positive number of seconds, got 'soon'/);
  });

  it('a bad --set value exits 2 naming the --set and the key, not the preset file', () => {
    const r = fedpeft(['simulate', '--preset', 'quickstart', '--set', 'training.rounds=six']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--set training\.rounds=six: training\.rounds: /);
    expect(r.stderr).not.toMatch(/quickstart\.yaml/);
    expect(r.stdout).toBe('');
  });

  it(`methods prints a table within ${METHODS_TABLE_COLUMNS} columns; --wide is wider`, () => {
    const narrow = fedpeft(['methods', '--model', 'test-gpt']);
    expect(narrow.code).toBe(0);
    const widest = (text: string) =>
      Math.max(
        ...text
          .trimEnd()
          .split('\n')
          .map((l) => [...l].length),
      );
    expect(widest(narrow.stdout)).toBeLessThanOrEqual(METHODS_TABLE_COLUMNS);
    expect(narrow.stdout).toMatch(/│ pica /);
    // Nothing but the table: no backend probe noise (Dawn's WebGPU warnings) outside `doctor`.
    expect(narrow.stderr).toBe('');
    const wide = fedpeft(['methods', '--model', 'test-gpt', '--wide']);
    expect(wide.code).toBe(0);
    expect(wide.stdout).toMatch(/layers\.\*\.attn\.q\.U \[32x16\] x2/);
  });

  it('WebGPU is probed (and Dawn may warn) only under doctor; other commands never load it', () => {
    const doctor = fedpeft(['doctor']);
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toMatch(/webgpu/);
    const dawnWarning = /artificially reduced/;
    if (/webgpu +available/.test(doctor.stdout) && dawnWarning.test(doctor.stderr)) {
      // Where Dawn does warn, doctor says where the lines come from.
      expect(doctor.stdout).toMatch(/come from probing WebGPU/);
    }
    const bad = fedpeft(['simulate', '--preset', 'quickstart', '--set', 'seed=x']);
    expect(bad.stderr).not.toMatch(dawnWarning);
    expect(bad.stderr.trim().split('\n')[0]).toBe('fedpeft: invalid scenario:');
  });
});
