/**
 * Headless Chromium for browser tests and benchmarks, through playwright-core (no bundled browsers: it drives
 * the system's `/usr/bin/chromium`, which `.ci/run` installs with apt). Each launch gets a fresh profile
 * directory, removed on close, so no state leaks between runs.
 *
 * WebGPU: `--enable-unsafe-webgpu --enable-features=Vulkan` lets Chromium expose its SwiftShader (software)
 * WebGPU adapter even with `--disable-gpu`; WebGL then also runs on SwiftShader. Whether either exists is for
 * the page to find out (`window.fedpeft.probeBackends()`), not for this helper to assume.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { BrowserBundle } from '../../web/build.ts';
import { createBundleHandler } from '../../web/asset-handler.ts';

export const CHROMIUM_PATH = process.env.FEDPEFT_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan'];

/** Null when Chromium can be launched; otherwise a plain sentence saying why the browser tests skip. */
export function chromiumSkipReason(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  return (
    `Chromium not found at ${CHROMIUM_PATH}: install it with 'apt-get install -y chromium' ` +
    `(or set FEDPEFT_CHROMIUM to a Chromium binary)`
  );
}

export interface ChromiumSession {
  context: BrowserContext;
  browser: Browser | null;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Launch headless Chromium with the standard flags (plus WebGPU flags unless `webgpu: false`). */
export async function launchChromium(
  options: { webgpu?: boolean; extraArgs?: string[] } = {},
): Promise<ChromiumSession> {
  const why = chromiumSkipReason();
  if (why) throw new Error(why);
  const profile = mkdtempSync(join(tmpdir(), 'fedpeft-chromium-'));
  const args = [
    ...CHROMIUM_ARGS,
    ...(options.webgpu === false ? [] : WEBGPU_ARGS),
    ...(options.extraArgs ?? []),
  ];
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    browser: context.browser(),
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface BundleServer {
  /** The page URL (`http://127.0.0.1:<port>/`): loopback http is a secure context, so WebGPU is exposed. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serve a built bundle on a loopback port chosen by the OS. */
export async function serveBundle(bundle: BrowserBundle): Promise<BundleServer> {
  const handle = createBundleHandler(bundle);
  const server = createServer((req, res) => {
    if (!handle(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Open the bundle's page and wait until `window.fedpeft` exists; page errors are collected for assertions. */
export async function openFedpeftPage(
  session: ChromiumSession,
  url: string,
): Promise<{ page: Page; errors: string[]; console: string[] }> {
  const page = await session.newPage();
  const errors: string[] = [];
  const consoleLines: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  await page.goto(url);
  await page.waitForFunction(() => 'fedpeft' in window, null, { timeout: 30_000 });
  return { page, errors, console: consoleLines };
}
