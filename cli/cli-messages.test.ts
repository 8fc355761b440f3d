/**
 * The CLI as a user meets it, as a real process (bin/fedpeft.js): exit codes, what goes to stdout and stderr,
 * and that each error names the flag it comes from (issue 20, "CLI noise and rough edges").
 */
import { spawnSync } from 'node:child_process';
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

describe('fedpeft CLI messages', () => {
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
    const wide = fedpeft(['methods', '--model', 'test-gpt', '--wide']);
    expect(wide.code).toBe(0);
    expect(wide.stdout).toMatch(/layers\.\*\.attn\.q\.U \[32x16\] x2/);
  });
});
