/**
 * The suite registry: a name maps to one suite, registering a name twice is a programming error (as in tfjs's
 * kernel registry), and selection — defaults, opt-in flags, `--only` — lives here so the CLI stays thin.
 */
import { FedpeftError } from '../../shared/errors.ts';
import type { BenchSuite } from './types.ts';

const NAME = /^[a-z][a-z0-9-]*$/;

export class SuiteRegistry {
  private readonly suites = new Map<string, BenchSuite>();

  register(suite: BenchSuite): void {
    if (!NAME.test(suite.name)) {
      throw new Error(`bench suite name '${suite.name}' must be lower-case letters, digits and dashes`);
    }
    if (suite.optIn && !NAME.test(suite.optIn.flag)) {
      throw new Error(`bench suite '${suite.name}': opt-in flag '${suite.optIn.flag}' must be lower-case`);
    }
    if (this.suites.has(suite.name)) throw new Error(`bench suite '${suite.name}' is registered twice`);
    this.suites.set(suite.name, suite);
  }

  all(): BenchSuite[] {
    return [...this.suites.values()];
  }

  /** Every opt-in flag with the suites it enables, for the CLI to turn into `--<flag>` options. */
  optInFlags(): Map<string, { description: string; suites: string[] }> {
    const flags = new Map<string, { description: string; suites: string[] }>();
    for (const s of this.suites.values()) {
      if (!s.optIn) continue;
      const entry = flags.get(s.optIn.flag) ?? { description: s.optIn.description, suites: [] };
      entry.suites.push(s.name);
      flags.set(s.optIn.flag, entry);
    }
    return flags;
  }

  /**
   * The suites to run, in registration order. `only` names suites explicitly (opt-in ones included) and wins
   * over everything else; otherwise all default suites plus the opt-in suites whose flag is in `flags`.
   */
  select(opts: { only?: string[] | undefined; flags?: Iterable<string> }): BenchSuite[] {
    if (opts.only && opts.only.length > 0) {
      const unknown = opts.only.filter((n) => !this.suites.has(n));
      if (unknown.length > 0) {
        throw new FedpeftError(
          'UNKNOWN_BENCH_SUITE',
          `Unknown bench suite${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}. ` +
            `Available: ${[...this.suites.keys()].join(', ')} (see fedpeft bench --list).`,
        );
      }
      const wanted = new Set(opts.only);
      return this.all().filter((s) => wanted.has(s.name));
    }
    const flags = new Set(opts.flags ?? []);
    return this.all().filter((s) => !s.optIn || flags.has(s.optIn.flag));
  }
}

/** The registry `fedpeft bench` uses; suites add themselves in `bench/suites/index.ts`. */
export const benchSuites = new SuiteRegistry();
