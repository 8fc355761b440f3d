/**
 * A `StateStore` in a directory (Node): `state.json` for the meta and one `<set>.safetensors` per tensor set.
 *
 * Every write is atomic (write-file-atomic: a temp file in the same directory, fsync, rename), so a process
 * killed mid-write leaves the previous version whole, never a torn file. Tensor files also carry a CRC-32 of
 * their data in the safetensors metadata, so a file damaged behind our back (disk, manual edits) is reported
 * instead of being loaded as silently wrong weights.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { FedpeftError } from '../shared/errors.ts';
import { formatZodError } from '../shared/config/format-error.ts';
import { parseSafetensors, serializeSafetensors } from '../shared/model/safetensors.ts';
import { crc32 } from '../shared/wire/crc32.ts';
import type { HostTensorMap } from '../shared/tensor/host-tensor.ts';
import type { ClientStateMeta, StateStore, StoredTensors, TensorSetName } from './state-store.ts';

export const META_FILE = 'state.json';
const FORMAT = 'fedpeft-client-state';

const nullableNumber = z.number().nullable();
const MetaSchema = z.object({
  version: z.literal(1),
  session: z
    .object({ serverUrl: z.string(), runId: z.string(), sessionId: z.string(), sessionToken: z.string() })
    .nullable(),
  run: z
    .object({
      runId: z.string(),
      model: z.string(),
      modelConfig: z.record(z.string(), z.unknown()),
      method: z.string(),
      methodConfig: z.record(z.string(), z.unknown()),
      seed: z.number().int().min(0),
    })
    .nullable()
    .default(null),
  lastCommittedRound: z.number().int().min(0),
  upload: z
    .object({
      roundId: z.number().int().min(0),
      transferId: z.string(),
      chunkBytes: z.number().int().positive(),
      float16: z.boolean(),
      numExamples: z.number().min(0),
      weight: z.number().min(0),
      metrics: z.object({
        trainLoss: nullableNumber,
        steps: z.number().int().min(0),
        computeMs: z.number().min(0),
        globalValLoss: nullableNumber,
        globalValPpl: nullableNumber,
        personalValLoss: nullableNumber,
        personalValPpl: nullableNumber,
      }),
      trainedExtents: z.array(z.object({ tensor: z.string(), extent: z.array(z.number().int().min(0)) })),
    })
    .nullable(),
  globalRound: z.number().int().min(0),
  transferCounter: z.number().int().min(0),
});

function dataCrc(tensors: HostTensorMap): number {
  let crc = 0;
  for (const t of tensors.values())
    crc = crc32(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), crc);
  return crc >>> 0;
}

function corrupt(path: string, why: string): FedpeftError {
  return new FedpeftError(
    'STATE_CORRUPT',
    `client state ${path} is unreadable (${why}); delete it to start a fresh session`,
  );
}

async function readIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FedpeftError('STATE_UNREADABLE', `cannot read client state ${path}: ${(err as Error).message}`);
  }
}

export class FileStateStore implements StateStore {
  readonly location: string;
  private ready: Promise<void> | undefined;

  constructor(readonly dir: string) {
    this.location = dir;
  }

  private ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
    return this.ready;
  }

  private tensorPath(name: TensorSetName): string {
    return join(this.dir, `${name}.safetensors`);
  }

  async readMeta(): Promise<ClientStateMeta | null> {
    const path = join(this.dir, META_FILE);
    const bytes = await readIfExists(path);
    if (!bytes) return null;
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw corrupt(path, (err as Error).message);
    }
    const parsed = MetaSchema.safeParse(json);
    if (!parsed.success) throw corrupt(path, formatZodError(parsed.error).replace(/\n/g, '; '));
    return parsed.data;
  }

  async writeMeta(meta: ClientStateMeta): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(join(this.dir, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
  }

  async readTensors(name: TensorSetName): Promise<StoredTensors | null> {
    const path = this.tensorPath(name);
    const bytes = await readIfExists(path);
    if (!bytes) return null;
    let file: ReturnType<typeof parseSafetensors>;
    try {
      file = parseSafetensors(bytes, { source: path });
    } catch (err) {
      throw corrupt(path, (err as Error).message);
    }
    if (file.metadata.format !== FORMAT) throw corrupt(path, 'not a fedpeft client state file');
    const expected = Number(file.metadata.crc32);
    if (dataCrc(file.tensors) !== expected) throw corrupt(path, 'its data does not match its CRC-32');
    return { tensors: file.tensors, tag: file.metadata.tag ?? '' };
  }

  async writeTensors(name: TensorSetName, tensors: HostTensorMap, tag = ''): Promise<void> {
    await this.ensureDir();
    const bytes = serializeSafetensors(tensors, { format: FORMAT, tag, crc32: String(dataCrc(tensors)) });
    await writeFileAtomic(
      this.tensorPath(name),
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
  }

  async deleteTensors(name: TensorSetName): Promise<void> {
    await rm(this.tensorPath(name), { force: true });
  }
}
