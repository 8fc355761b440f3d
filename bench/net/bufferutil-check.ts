/**
 * Whether the websocket engine of socket.io really masks and unmasks frames with the native `bufferutil`
 * (design.md §6: ~3x websocket throughput). `ws` loads it silently and falls back to JavaScript just as
 * silently, and `bufferutil` itself falls back to JavaScript when its prebuilt binary does not load, so
 * checking that the package resolves is not enough: look at what `ws` actually uses.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

interface BufferUtil {
  mask: (...args: unknown[]) => void;
}

/** `engine.io` (server side) or `engine.io-client` (Node client side): whose `ws` to inspect. */
export function nativeBufferutilInUse(engine: 'engine.io' | 'engine.io-client'): boolean {
  try {
    const fromHere = createRequire(import.meta.url);
    const fromEngine = createRequire(fromHere.resolve(engine));
    const wsDir = dirname(fromEngine.resolve('ws/package.json'));
    if (process.env.WS_NO_BUFFER_UTIL) return false;
    // ws replaces its JS mask with a wrapper that calls bufferutil for frames of 48 bytes and more.
    const wsUtil = fromEngine(join(wsDir, 'lib', 'buffer-util.js')) as BufferUtil;
    const wraps = String(wsUtil.mask).includes('bufferUtil.mask');
    const native = String(createRequire(join(wsDir, 'index.js'))('bufferutil').mask).includes(
      '[native code]',
    );
    return wraps && native;
  } catch {
    return false;
  }
}
