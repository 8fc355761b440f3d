/**
 * The coordinator's `/join` route: the browser client (web/build.ts's bundle, with the join page as its
 * index) served from memory. The bundle is built once per process, on first use (~1 s with esbuild), and
 * the same build is shared by every server the process starts.
 *
 * `<base>/run.json` describes the run (model, method, their configs, seed) to a page that presents a valid join
 * token (`Authorization: Bearer <token>`): with it the browser builds its adapter before joining, so its first
 * Join already carries the derived-state signature (PiCa's projectors) the coordinator checks. It is the
 * same description a Welcome gives the same token holder.
 *
 * esbuild is a development dependency: where it is missing (a production install) the build fails with a
 * FedpeftError saying so, and the coordinator runs without the page.
 */
import type { ServerResponse } from 'node:http';
import { FedpeftError } from '../shared/errors.ts';
import { createBundleHandler, type BundleHandler } from './asset-handler.ts';
import type { BrowserBundle } from './build.ts';

/** Where the coordinator mounts the browser client. */
export const JOIN_PATH = '/join';

let building: Promise<BrowserBundle> | undefined;

/** The browser bundle, built on the first call and cached for the process. */
export function joinBundle(): Promise<BrowserBundle> {
  building ??= import('./build.ts')
    .then(({ buildBrowserBundle }) => buildBrowserBundle())
    .catch((err: unknown) => {
      building = undefined;
      const message = err instanceof Error ? err.message : String(err);
      throw new FedpeftError(
        'JOIN_PAGE_UNAVAILABLE',
        `cannot build the browser client for ${JOIN_PATH} (${message}); it needs the esbuild dev dependency ` +
          `(npm install --include=dev)`,
      );
    });
  return building;
}

/** What a client must know of the run (the Welcome's `run`, as `ClientRunConfig`). */
export interface JoinRunDescription {
  model: string;
  modelConfig: Record<string, unknown>;
  method: string;
  methodConfig: Record<string, unknown>;
  seed: number;
}

export interface JoinRouteOptions {
  /** URL prefix. Default `/join`. */
  basePath?: string;
  /** Served at `<base>/run.json` to holders of a valid join token; without it that path is 404. */
  run?: JoinRunDescription;
  /** True when `token` is a valid join token of the run (the coordinator's `tokens.verify`). */
  verifyToken?: (token: string) => boolean;
}

/** A request handler serving the browser client under `basePath` (default `/join`). */
export async function createJoinRoute(options: JoinRouteOptions = {}): Promise<BundleHandler> {
  const base = `/${(options.basePath ?? JOIN_PATH).replace(/^\/+|\/+$/g, '')}`;
  const assets = createBundleHandler(await joinBundle(), { basePath: base });
  const { run, verifyToken } = options;
  if (!run || !verifyToken) return assets;
  const body = JSON.stringify(run);
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== `${base}/run.json`) return assets(req, res);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !verifyToken(token)) {
      reply(res, 401, {
        error: 'the run is described to holders of a valid join token (Authorization: Bearer <token>)',
      });
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body);
    return true;
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The link a person opens to join: the page with the token prefilled. */
export function joinUrl(serverUrl: string, token?: string): string {
  return `${serverUrl}${JOIN_PATH}/${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}
