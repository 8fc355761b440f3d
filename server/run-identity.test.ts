import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_ID_FILE, clockRunId, resolveRunId } from './run-identity.ts';

const dir = () => mkdtemp(join(tmpdir(), 'fedpeft-runid-'));
const at = (iso: string) => () => new Date(iso);

describe('resolveRunId', () => {
  it('chooses an id once and gives the same one on --resume, whatever the clock says', async () => {
    const runDir = await dir();
    const first = await resolveRunId(runDir, { resume: false, now: at('2026-01-01T00:00:00Z') });
    expect(first).toBe(clockRunId(new Date('2026-01-01T00:00:00Z')));
    expect((await readFile(join(runDir, RUN_ID_FILE), 'utf8')).trim()).toBe(first);
    const resumed = await resolveRunId(runDir, { resume: true, now: at('2026-06-01T12:00:00Z') });
    expect(resumed).toBe(first);
  });

  it('keeps a configured id and refuses a different one over the same directory', async () => {
    const runDir = await dir();
    expect(await resolveRunId(runDir, { configured: 'pilot-1', resume: false })).toBe('pilot-1');
    expect(await resolveRunId(runDir, { configured: 'pilot-1', resume: true })).toBe('pilot-1');
    await expect(resolveRunId(runDir, { configured: 'pilot-2', resume: true })).rejects.toThrow(
      /run\.id is 'pilot-2' but .* belongs to run 'pilot-1'/,
    );
  });

  it('will not invent an id for a resume that has none stored or configured', async () => {
    await expect(resolveRunId(await dir(), { resume: true })).rejects.toThrow(/set run\.id/);
  });

  it('rejects a damaged id file instead of replacing it', async () => {
    const runDir = await dir();
    await writeFile(join(runDir, RUN_ID_FILE), '\u0000\u0000garbage/../x');
    await expect(resolveRunId(runDir, { resume: true })).rejects.toThrow(/does not hold a run id/);
  });
});
