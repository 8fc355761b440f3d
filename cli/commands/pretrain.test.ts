import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/fedpeft.js', import.meta.url));
const env = { ...process.env, FEDPEFT_BACKEND: 'wasm' };

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'fedpeft-pretrain-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('fedpeft pretrain / finetune', () => {
  it('pretrains a tiny base into --out, then fine-tunes one client from it with --json output', async () => {
    const out = path.join(root, 'base');
    const pre = await run(
      process.execPath,
      [
        bin,
        'pretrain',
        '--size',
        'test',
        '--steps',
        '30',
        '--eval-every',
        '15',
        '--out',
        out,
        '--sample-length',
        '20',
        '--json',
      ],
      { env, timeout: 120_000 },
    );
    const summary = JSON.parse(pre.stdout) as {
      steps: number;
      validationBitsPerByte: number;
      unigramBitsPerByte: number;
      samples: { prompt: string; completion: string }[];
    };
    expect(summary.steps).toBe(30);
    expect(summary.validationBitsPerByte).toBeLessThan(8); // below uniform over bytes
    expect(summary.unigramBitsPerByte).toBeGreaterThan(3);
    expect(summary.samples.map((s) => s.prompt)).toEqual([
      'Call me Ishmael. ',
      'The whale ',
      'Queequeg was ',
    ]);
    expect(pre.stderr).toMatch(/step 15: validation [\d.]+ bits\/byte/);

    const ft = await run(
      process.execPath,
      [
        bin,
        'finetune',
        '--method',
        'pica',
        '--client',
        'abraham lincoln',
        '--steps',
        '6',
        '--eval-windows',
        '4',
        '--base',
        out,
        '--json',
      ],
      { env, timeout: 120_000 },
    );
    const result = JSON.parse(ft.stdout) as {
      method: string;
      steps: number;
      trainableParams: number;
      data: string;
      before: { perplexity: number };
      after: { perplexity: number };
    };
    expect(result.method).toBe('pica');
    expect(result.steps).toBe(6);
    expect(result.data).toContain("client 'Abraham Lincoln'");
    expect(result.trainableParams).toBeGreaterThan(0);
    expect(Number.isFinite(result.after.perplexity)).toBe(true);
    expect(result.before.perplexity).toBeGreaterThan(1);
  });

  it('explains bad flags in one line with exit code 2', async () => {
    const fail = (args: string[]) =>
      run(process.execPath, [bin, ...args], { env, timeout: 60_000 }).then(
        () => {
          throw new Error('expected a failure');
        },
        (err: { code: number; stderr: string }) => err,
      );
    const size = await fail(['pretrain', '--size', 'huge', '--steps', '1', '--out', path.join(root, 'x')]);
    expect(size.code).toBe(2);
    expect(size.stderr).toMatch(/unknown --size 'huge'; choose one of: test, tiny, small/);
    const resume = await fail(['pretrain', '--resume', '--steps', '1']);
    expect(resume.stderr).toMatch(/--resume needs --out/);
    const method = await fail(['finetune', '--method', 'bogus', '--base', root]);
    expect(method.stderr).toMatch(/unknown --method 'bogus'/);
    const client = await fail(['finetune', '--method', 'pica', '--client', 'Nobody', '--base', root]);
    expect(client.stderr).toMatch(/no client 'Nobody'/);
  });
});
