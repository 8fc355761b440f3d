/**
 * A run's identity, chosen once and kept in its run directory. Clients wipe their optimizer state and personal
 * adapter when the run id of a Welcome differs from the one they stored, so a `--resume` must present the
 * same id as the first start even when the config has no `run.id` (docs/real-devices.md's example has none).
 *
 * The id is written atomically (temporary file, fsync, rename) before the coordinator starts, so a crash can
 * leave either no file or the whole id, never a part of one.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FedpeftError } from '../shared/errors.ts';

export const RUN_ID_FILE = 'run-id';
const RUN_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A fresh run id from the clock: `run-2026-12-05T16-29-39-123Z`. */
export function clockRunId(now: Date = new Date()): string {
  return `run-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/** The id stored in `runDir`, or null when none was stored. A damaged file is an error, never a new id. */
export async function readRunId(runDir: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(runDir, RUN_ID_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const id = text.trim();
  if (!RUN_ID_PATTERN.test(id)) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `${join(runDir, RUN_ID_FILE)} does not hold a run id (got ${JSON.stringify(id.slice(0, 80))}); restore it or delete the run directory`,
    );
  }
  return id;
}

export async function writeRunId(runDir: string, id: string): Promise<void> {
  await writeFileAtomic(join(runDir, RUN_ID_FILE), `${id}\n`, { fsync: true });
}

/**
 * The run id to serve under `runDir`: the stored one when there is one (a configured `run.id` must agree with
 * it), else the configured one, else a new one from the clock; a new choice is stored before it is returned.
 * `--resume` without a stored id falls back to the configured one and refuses to invent one, because a new
 * id would make every client discard its state.
 */
export async function resolveRunId(
  runDir: string,
  options: { configured?: string | undefined; resume: boolean; now?: () => Date },
): Promise<string> {
  const stored = await readRunId(runDir);
  if (stored !== null) {
    if (options.configured !== undefined && options.configured !== stored) {
      throw new FedpeftError(
        'INVALID_CONFIG',
        `run.id is '${options.configured}' but ${runDir} belongs to run '${stored}': use that id or another run directory`,
      );
    }
    return stored;
  }
  if (options.resume && options.configured === undefined) {
    throw new FedpeftError(
      'INVALID_CONFIG',
      `--resume: ${join(runDir, RUN_ID_FILE)} is missing, so the run's id is unknown; set run.id to the id the run started with`,
    );
  }
  const id = options.configured ?? clockRunId(options.now?.());
  await writeRunId(runDir, id);
  return id;
}
