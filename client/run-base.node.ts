/**
 * The run's base checkpoint on a Node client. When the coordinator names one (Welcome `run.base_sha256`),
 * the client trains on exactly those bytes: its own copy (`--base <dir>`) if the fingerprint matches, else a
 * copy downloaded from the coordinator into a cache keyed by the fingerprint:
 *
 *   <cacheDir>/run-bases/<sha256>/   model.safetensors, config.json
 *
 * The download goes to a temporary directory, is hashed while it streams, and is renamed into place only when
 * size and sha-256 match, so a crash or a corrupted transfer never leaves a cached base that looks valid.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FedpeftError } from '../shared/errors.ts';
import { checkpointFingerprint, CONFIG_FILE, WEIGHTS_FILE } from '../shared/model/checkpoint.ts';
import { defaultCacheDir } from '../shared/model-cache/base-cache.node.ts';

export interface RunBaseFingerprint {
  sha256: string;
  bytes: number;
}

export interface RunBaseDirOptions {
  /** The fingerprint the run names. */
  base: RunBaseFingerprint;
  /** The coordinator's address (`--server`); the base is at `<server>/base/<sha256>/...`. */
  serverUrl: string;
  /** A join token (the base route admits token holders only). */
  token: string;
  /** `--base <dir>`: use this checkpoint instead of downloading (must have the run's fingerprint). */
  localDir?: string;
  /** Default: `FEDPEFT_CACHE_DIR`, else ~/.cache/fedpeft (as the pretrained-base cache). */
  cacheDir?: string;
  /** Progress notices (`base-cached`, `base-downloading`, `base-downloaded`). */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** For tests; default the global fetch. */
  fetch?: typeof fetch;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The directory holding the run's base checkpoint, verified against its fingerprint. */
export async function runBaseDir(options: RunBaseDirOptions): Promise<string> {
  const { base } = options;
  const log = options.log ?? (() => undefined);
  if (options.localDir !== undefined) {
    const got = await checkpointFingerprint(options.localDir);
    if (got.sha256 !== base.sha256) {
      throw new FedpeftError(
        'BASE_MISMATCH',
        `--base ${options.localDir} has sha256 ${got.sha256}, but the run's base is sha256 ${base.sha256}; ` +
          'drop --base to download the run’s base from the coordinator',
      );
    }
    return options.localDir;
  }
  const root = join(options.cacheDir ?? defaultCacheDir(), 'run-bases');
  const dir = join(root, base.sha256);
  if (await exists(join(dir, WEIGHTS_FILE))) {
    // Re-hashed on every start: cheap next to training, and catches a cache damaged on disk.
    const got = await checkpointFingerprint(dir);
    if (got.sha256 === base.sha256) {
      log('base-cached', { dir, sha256: base.sha256 });
      return dir;
    }
    log('base-cache-damaged', { dir, sha256: got.sha256 });
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(root, { recursive: true });
  const partial = join(root, `.partial-${base.sha256}-${process.pid}-${Date.now()}`);
  await mkdir(partial, { recursive: true });
  try {
    log('base-downloading', { sha256: base.sha256, bytes: base.bytes, server: options.serverUrl });
    const started = Date.now();
    const weights = await download(options, WEIGHTS_FILE, join(partial, WEIGHTS_FILE), base.bytes);
    if (weights.sha256 !== base.sha256 || weights.bytes !== base.bytes) {
      throw new FedpeftError(
        'BASE_MISMATCH',
        `the downloaded base has sha256 ${weights.sha256} (${weights.bytes} bytes), the run names sha256 ` +
          `${base.sha256} (${base.bytes} bytes); the transfer was corrupted or the coordinator's checkpoint changed`,
      );
    }
    await download(options, CONFIG_FILE, join(partial, CONFIG_FILE), 1 << 20);
    try {
      await rename(partial, dir);
    } catch (err) {
      // Another client process published the same base first: same bytes, keep theirs.
      if (!(await exists(join(dir, WEIGHTS_FILE)))) throw err;
    }
    log('base-downloaded', { dir, sha256: base.sha256, bytes: base.bytes, ms: Date.now() - started });
    return dir;
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

/** Streams one file of the base to `path`, hashing it on the way; refuses more than `maxBytes`. */
async function download(
  options: RunBaseDirOptions,
  file: string,
  path: string,
  maxBytes: number,
): Promise<RunBaseFingerprint> {
  const url = new URL(`/base/${options.base.sha256}/${file}`, options.serverUrl);
  const doFetch = options.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, { headers: { authorization: `Bearer ${options.token}` } });
  } catch (err) {
    throw new FedpeftError(
      'BASE_DOWNLOAD_FAILED',
      `cannot download the run's base from ${url.origin}: ${(err as Error).message}`,
    );
  }
  if (!res.ok || !res.body) {
    const detail = await res.text().catch(() => '');
    throw new FedpeftError(
      res.status === 401 ? 'AUTH_FAILED' : 'BASE_DOWNLOAD_FAILED',
      `GET ${url.pathname} answered ${res.status}${detail ? `: ${detail}` : ''}`,
    );
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const handle = await open(path, 'w');
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) {
        throw new FedpeftError(
          'BASE_MISMATCH',
          `GET ${url.pathname} sent more than the ${maxBytes} bytes the run announced`,
        );
      }
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}
