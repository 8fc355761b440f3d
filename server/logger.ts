/**
 * Structured one-line logs: every event is one JSON object per line (`{"t":..., "level":..., "event":...}`),
 * so an operator can grep and a tool can parse them, and untrusted text (client names, error messages) cannot
 * forge extra lines.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

export function jsonLineLogger(write: (line: string) => void, minLevel: LogLevel = 'info'): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, event, fields = {}) {
      if (order[level] < order[minLevel]) return;
      write(`${JSON.stringify({ t: new Date().toISOString(), level, event, ...fields })}\n`);
    },
  };
}

/** Keeps records in memory (tests assert on them). */
export class MemoryLogger implements Logger {
  readonly records: Array<{ level: LogLevel; event: string } & Record<string, unknown>> = [];
  log(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
    this.records.push({ level, event, ...fields });
  }
}

export const silentLogger: Logger = { log: () => undefined };
