/**
 * A fresh start over a run directory that already holds a run would overwrite its checkpoints and replay its
 * journal into the wrong run. `fedpeft serve` refuses that unless told explicitly (`--fresh`), and says how
 * to continue the run instead. With `--fresh` the earlier run is moved aside (never deleted) so the new run
 * starts from an empty directory under a new run id.
 */
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FedpeftError } from '../shared/errors.ts';

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** What in `runDir` belongs to an earlier run: checkpoint folders and journaled rounds. */
export async function earlierRunContents(runDir: string): Promise<string[]> {
  const found: string[] = [];
  const checkpoints = (await entries(join(runDir, 'checkpoints'))).filter((e) => e.startsWith('round-'));
  if (checkpoints.length > 0) found.push(`${checkpoints.length} checkpoint(s)`);
  const journal = (await entries(join(runDir, 'journal'))).filter((e) => e.startsWith('round-'));
  if (journal.length > 0) found.push(`a journal of ${journal.length} round(s)`);
  return found;
}

/** Throws (one line, `INVALID_CONFIG`, so the CLI exits with 2) unless the directory holds no earlier run. */
export async function assertFreshRunDir(runDir: string, options: { fresh: boolean }): Promise<void> {
  if (options.fresh) return;
  const found = await earlierRunContents(runDir);
  if (found.length === 0) return;
  throw new FedpeftError(
    'INVALID_CONFIG',
    `run directory ${runDir} already holds a run (${found.join(', ')}): continue it with --resume, or start over in it with --fresh`,
  );
}

const EARLIER_RUN_ENTRIES = ['checkpoints', 'journal', 'run-id'];

/** Moves the earlier run's checkpoints, journal and run id into `previous-<time>/`; returns that folder. */
export async function moveEarlierRunAside(runDir: string, now: Date = new Date()): Promise<string> {
  const aside = join(runDir, `previous-${now.toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(aside, { recursive: true });
  const present = new Set(await entries(runDir));
  for (const name of EARLIER_RUN_ENTRIES)
    if (present.has(name)) await rename(join(runDir, name), join(aside, name));
  return aside;
}
