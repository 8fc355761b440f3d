/**
 * The manifest of one checkpoint folder: the SHA-256 and length of every file in it, written last (inside the
 * temporary folder, before the rename that publishes it). Loading verifies every listed file, so a flipped
 * byte, a truncated file or a missing file makes the checkpoint "damaged" and the store falls back to an older
 * one instead of resuming from wrong state.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const MANIFEST_FILE = 'manifest.json';

const manifestSchema = z.strictObject({
  version: z.literal(1),
  files: z.record(
    z.string().regex(/^[A-Za-z0-9._-]+$/),
    z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.int().min(0) }),
  ),
});

export type CheckpointManifest = z.output<typeof manifestSchema>;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Collects the digest of each file as the store writes it. */
export class ManifestBuilder {
  private readonly files: CheckpointManifest['files'] = {};

  add(name: string, bytes: Uint8Array | string): void {
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    this.files[name] = { sha256: sha256Hex(bytes), bytes: length };
  }

  toJson(): string {
    return `${JSON.stringify({ version: 1, files: this.files } satisfies CheckpointManifest, null, 2)}\n`;
  }
}

/**
 * Reads every file the manifest of `dir` lists and checks its length and digest. Returns the verified files'
 * bytes by name, or throws an Error saying which file is wrong and how.
 */
export async function readVerified(dir: string): Promise<Map<string, Buffer>> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw new Error(`${MANIFEST_FILE} is missing`);
  }
  let manifest: CheckpointManifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(text));
  } catch {
    throw new Error(`${MANIFEST_FILE} is not a valid manifest`);
  }
  const out = new Map<string, Buffer>();
  for (const [name, expected] of Object.entries(manifest.files)) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, name));
    } catch {
      throw new Error(`${name} is missing`);
    }
    if (bytes.byteLength !== expected.bytes)
      throw new Error(`${name} has ${bytes.byteLength} bytes, the manifest says ${expected.bytes}`);
    if (sha256Hex(bytes) !== expected.sha256) throw new Error(`${name} does not match its SHA-256`);
    out.set(name, bytes);
  }
  return out;
}
