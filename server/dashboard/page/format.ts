/** Number formatting for the dashboard: short, fixed-width-friendly, and explicit about missing values. */

export const MISSING = '–';

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return MISSING;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(bytes);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const digits = u === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  // Number() drops trailing zeros: axis ticks read 1 KiB, 2 KiB rather than 1.00 KiB.
  return `${bytes < 0 ? '-' : ''}${Number(v.toFixed(digits))} ${units[u]}`;
}

/** The binary unit (1, 1 KiB, 1 MiB, ...) a byte count is best read in: chart ticks are round numbers of it. */
export function byteUnit(bytes: number): number {
  let unit = 1;
  while (bytes >= unit * 1024 && unit < 1024 ** 4) unit *= 1024;
  return unit;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return MISSING;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1_000);
  return minutes < 60 ? `${minutes} min ${seconds} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Up to `digits` significant digits, without exponent notation for everyday magnitudes. */
export function formatNumber(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return MISSING;
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-3) return v.toExponential(Math.max(0, digits - 2));
  return String(Number(v.toPrecision(digits)));
}

/** Perplexity of a mean cross-entropy in nats; null when there is no loss or it overflows. */
export function perplexity(loss: number | null | undefined): number | null {
  if (loss === null || loss === undefined || !Number.isFinite(loss)) return null;
  const p = Math.exp(loss);
  return Number.isFinite(p) ? p : null;
}
