/**
 * The dashboard page as one self-contained HTML response: the page module (TypeScript in `page/`, with the
 * socket.io client) bundled by esbuild into an inline script, the stylesheet inlined, so the page works
 * offline and needs no asset routes (and so no token on asset URLs). Built once per process, on first view.
 *
 * The Content-Security-Policy allows exactly that script and stylesheet (by hash) and connections to the
 * coordinator itself: even if a run id or method name were crafted as markup, no other script could run.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FedpeftError } from '../../shared/errors.ts';

const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

export interface DashboardPage {
  html: Buffer;
  contentSecurityPolicy: string;
}

let cached: Promise<DashboardPage> | undefined;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

async function bundleScript(): Promise<string> {
  // esbuild comes with tsx, which runs fedpeft; it is loaded only when a dashboard is first viewed.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [`${PAGE_DIR}dashboard-main.ts`],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.text;
  if (!code) throw new FedpeftError('DASHBOARD_BUILD', 'esbuild produced no dashboard script');
  // Inline scripts end at the first `</script`, wherever it is: refuse rather than serve a broken page.
  if (/<\/script/i.test(code))
    throw new FedpeftError('DASHBOARD_BUILD', 'the dashboard script contains "</script"');
  return code;
}

async function buildPage(): Promise<DashboardPage> {
  const [template, css, script] = await Promise.all([
    readFile(`${PAGE_DIR}dashboard.html`, 'utf8'),
    readFile(`${PAGE_DIR}dashboard.css`, 'utf8'),
    bundleScript(),
  ]);
  const styleSlot = /<style>\s*\/\*STYLE\*\/\s*<\/style>/;
  const scriptSlot = /<script>\s*\/\*SCRIPT\*\/\s*<\/script>/;
  if (!styleSlot.test(template) || !scriptSlot.test(template)) {
    throw new FedpeftError(
      'DASHBOARD_BUILD',
      'dashboard.html lacks its <style>/*STYLE*/ or <script>/*SCRIPT*/ slot',
    );
  }
  // The hashes cover the elements' exact text, so nothing (not even whitespace) may surround it. Function
  // replacers: a `$&` in the code must not be read as a replacement pattern.
  const html = template
    .replace(styleSlot, () => `<style>${css}</style>`)
    .replace(scriptSlot, () => `<script>${script}</script>`);
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(css)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html: Buffer.from(html, 'utf8'), contentSecurityPolicy };
}

/** The page (built on first call, then cached; a failed build is retried on the next call). */
export function dashboardPage(): Promise<DashboardPage> {
  cached ??= buildPage().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}
