import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJoinRoute, joinUrl } from './join-route.ts';

/** The coordinator's `/join` route: the page and its assets, and the run description behind the join token. */
describe('join route', () => {
  const run = { model: 'test-gpt', modelConfig: {}, method: 'pica', methodConfig: { r: 4 }, seed: 7 };
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const route = await createJoinRoute({ run, verifyToken: (t) => t === 'good-token' });
    server = createServer((req, res) => {
      if (!route(req, res)) {
        res.writeHead(418);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 30_000);
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the join page and the sample text under /join, and leaves other paths alone', async () => {
    const page = await fetch(`${base}/join/?token=x`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('mountJoinPage');
    expect((await fetch(`${base}/join/sample-text.txt`)).status).toBe(200);
    expect((await fetch(`${base}/join`, { redirect: 'manual' })).headers.get('location')).toBe('/join/');
    expect((await fetch(`${base}/status`)).status).toBe(418);
  });

  it('describes the run only to a holder of a valid join token', async () => {
    expect((await fetch(`${base}/join/run.json`)).status).toBe(401);
    const bad = await fetch(`${base}/join/run.json`, { headers: { authorization: 'Bearer wrong' } });
    expect(bad.status).toBe(401);
    const ok = await fetch(`${base}/join/run.json`, { headers: { authorization: 'Bearer good-token' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual(run);
  });

  it('builds the link a person opens', () => {
    expect(joinUrl('http://127.0.0.1:7070', 'a b')).toBe('http://127.0.0.1:7070/join/?token=a%20b');
    expect(joinUrl('http://127.0.0.1:7070')).toBe('http://127.0.0.1:7070/join/');
  });
});
