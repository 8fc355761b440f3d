import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBundleHandler } from './asset-handler.ts';
import type { BrowserBundle } from './build.ts';

/** The handler must serve only under its prefix, so the coordinator can mount it next to socket.io. */
describe('bundle asset handler', () => {
  const bundle: BrowserBundle = {
    files: new Map([
      [
        'index.html',
        { body: new TextEncoder().encode('<p>hi</p>'), contentType: 'text/html; charset=utf-8' },
      ],
      [
        'chunks/a.js',
        { body: new TextEncoder().encode('export {}'), contentType: 'text/javascript; charset=utf-8' },
      ],
    ]),
    inputs: [],
    buildMs: 0,
  };
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const handle = createBundleHandler(bundle, { basePath: '/join' });
    server = createServer((req, res) => {
      if (!handle(req, res)) {
        res.writeHead(418);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('redirects the bare prefix, serves files with their types, 404s unknown ones, leaves other paths alone', async () => {
    const redirect = await fetch(`${base}/join?x=1`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/join/?x=1');
    const index = await fetch(`${base}/join/`);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await index.text()).toBe('<p>hi</p>');
    const chunk = await fetch(`${base}/join/chunks/a.js`);
    expect(chunk.headers.get('content-type')).toContain('text/javascript');
    expect((await fetch(`${base}/join/nope.js`)).status).toBe(404);
    expect((await fetch(`${base}/join/index.html`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/socket.io/`)).status).toBe(418);
    expect((await fetch(`${base}/joined`)).status).toBe(418);
  });
});
