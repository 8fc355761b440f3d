/**
 * `GET /base/<sha256>/model.safetensors` and `/base/<sha256>/config.json`: the run's base checkpoint for
 * clients (an HTTP route for `startSocketIoServer`'s `routes`). Only for holders of a join token — the base
 * may be a private pretrained model — given as `Authorization: Bearer <token>` or `?token=`. Files are
 * streamed from disk, so a large base costs no coordinator memory; `HEAD` answers the size alone.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CONFIG_FILE, WEIGHTS_FILE } from '../shared/model/checkpoint.ts';

export const BASE_ROUTE_PREFIX = '/base/';

export interface BaseRouteOptions {
  /** The checkpoint directory. */
  dir: string;
  /** Fingerprint of its weights file: the only name it is served under. */
  sha256: string;
  /** Whether a join token is valid now (revoked tokens stop working at once). */
  verifyToken: (token: string) => boolean;
  /** Read errors mid-stream (the response is cut; the client's hash check rejects the partial file). */
  onError?: (message: string) => void;
}

const FILES: Record<string, string> = {
  [WEIGHTS_FILE]: 'application/octet-stream',
  [CONFIG_FILE]: 'application/json',
};

function tokenOf(req: IncomingMessage, url: URL): string | null {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  return m ? m[1]! : url.searchParams.get('token');
}

function refuse(res: ServerResponse, status: number, error: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error }));
}

export function createBaseRoute(
  options: BaseRouteOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith(BASE_ROUTE_PREFIX)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      refuse(res, 405, 'the base checkpoint is read with GET');
      return true;
    }
    const token = tokenOf(req, url);
    // Checked before the path so the route tells nothing (not even the fingerprint) to a caller without one.
    if (!token || !options.verifyToken(token)) {
      refuse(res, 401, 'the base checkpoint needs a join token: Authorization: Bearer <token> or ?token=');
      return true;
    }
    const [sha256, file, ...rest] = url.pathname.slice(BASE_ROUTE_PREFIX.length).split('/');
    const type = file !== undefined ? FILES[file] : undefined;
    if (sha256 !== options.sha256 || type === undefined || rest.length > 0) {
      refuse(res, 404, `this run serves /base/${options.sha256}/{${WEIGHTS_FILE},${CONFIG_FILE}} only`);
      return true;
    }
    void send(join(options.dir, file!), type, req.method === 'HEAD', res, options.onError);
    return true;
  };
}

async function send(
  path: string,
  type: string,
  headOnly: boolean,
  res: ServerResponse,
  onError: ((message: string) => void) | undefined,
): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    onError?.(`cannot read ${path}: ${(err as Error).message}`);
    refuse(res, 500, 'the coordinator cannot read its base checkpoint');
    return;
  }
  res.writeHead(200, { 'content-type': type, 'content-length': String(size), 'cache-control': 'no-store' });
  if (headOnly) {
    res.end();
    return;
  }
  try {
    await pipeline(createReadStream(path), res);
  } catch (err) {
    onError?.(`sending ${path} failed: ${(err as Error).message}`);
    res.destroy();
  }
}
