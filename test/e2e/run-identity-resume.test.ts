/**
 * A coordinator config without `run.id` (docs/real-devices.md) started, then resumed: the resumed run presents
 * the id the client stored, so the client's state store (optimizer state, personal adapter) is kept — the
 * client runtime starts over only when the Welcome's run id differs from `meta.run.runId`.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { resolveRunId } from '../../server/run-identity.ts';
import { FileStateStore } from '../../client/file-state-store.ts';
import { emptyClientState } from '../../client/state-store.ts';

describe('run identity across --resume', () => {
  it('resumes a config without run.id under the same id, so a client keeps its state', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fedpeft-resume-id-'));
    const runDir = join(root, 'run');
    const config = parseCoordinatorConfig({ run: { dir: runDir, rounds: 3 } });
    expect(config.run.id).toBeUndefined();
    await mkdir(runDir, { recursive: true });

    const started = await resolveRunId(runDir, { configured: config.run.id, resume: false });
    // What a client stores after the first Welcome of that run.
    const store = new FileStateStore(join(root, 'client-state'));
    await store.writeMeta({
      ...emptyClientState(),
      run: { runId: started, model: 'tiny-gpt', modelConfig: {}, method: 'pica', methodConfig: {}, seed: 42 },
    });

    const resumed = await resolveRunId(runDir, { configured: config.run.id, resume: true });
    expect(resumed).toBe(started);
    const kept = await new FileStateStore(join(root, 'client-state')).readMeta();
    expect(kept?.run?.runId).toBe(resumed);
  });
});
