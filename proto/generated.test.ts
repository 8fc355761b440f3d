import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENERATED_DIR, GENERATED_FILES, generate, readGenerated } from './generate.ts';

describe('proto/generated', () => {
  it('is in sync with proto/fedpeft.proto (regenerated into a temp dir, byte-identical)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedpeft-proto-'));
    try {
      await generate(dir);
      for (const file of GENERATED_FILES) {
        const fresh = await readGenerated(dir, file);
        const committed = await readGenerated(GENERATED_DIR, file);
        // On failure: run `npm run proto` and commit proto/generated/.
        expect(committed === fresh, `${file} is stale: run npm run proto`).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loads in plain Node ESM (no loader) and round-trips a message', () => {
    const script = `
      const { fedpeft } = await import(${JSON.stringify(join(GENERATED_DIR, 'fedpeft.js'))});
      const bytes = fedpeft.v1.Envelope.encode({ protocolVersion: 1, heartbeat: { roundId: 7 } }).finish();
      const env = fedpeft.v1.Envelope.decode(bytes);
      console.log(env.body + ':' + env.heartbeat.roundId);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('heartbeat:7');
  });
});
