/**
 * Serves a built browser bundle from a Node `http` server under a path prefix (the coordinator's `/join`, or
 * `/` for a test server). It is a request listener that answers only requests under its prefix and returns
 * false for everything else, so it composes with socket.io and other routes on the same server.
 *
 * The bundle's modules load each other with relative URLs, so the prefix itself is redirected to the prefix
 * with a trailing slash (`/join` -> `/join/`), otherwise `./fedpeft-web.js` would resolve outside the prefix.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrowserBundle } from './build.ts';

export interface BundleHandlerOptions {
  /** URL path prefix, e.g. `/join`. Default `/`. */
  basePath?: string;
}

export type BundleHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function createBundleHandler(
  bundle: BrowserBundle,
  options: BundleHandlerOptions = {},
): BundleHandler {
  const base = `/${(options.basePath ?? '/').replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    if (base && path === base) {
      res.writeHead(301, { location: `${base}/${url.search}` });
      res.end();
      return true;
    }
    if (!path.startsWith(`${base}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return true;
    }
    const rel = path.slice(base.length + 1) || 'index.html';
    const file = bundle.files.get(rel);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`not found: ${path}\n`);
      return true;
    }
    res.writeHead(200, {
      'content-type': file.contentType,
      'content-length': file.body.length,
      // A rebuilt bundle keeps its file names: the page must not run stale code against a new coordinator.
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}
