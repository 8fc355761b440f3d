/**
 * What `fedpeft join` tells a person whose coordinator cannot be reached: once, on stderr, which URL failed,
 * that it keeps retrying with backoff, how long until it gives up and how to stop; then, when the time is up,
 * one error line (exit code 2) that names the URL and the flag that set the limit.
 */
import { FedpeftError, isFedpeftError } from '../../shared/errors.ts';
import type { ClientLogger } from '../../client/engine/types.ts';
import { UserError } from '../errors.ts';

export const DEFAULT_GIVE_UP_AFTER_S = 300;

/** `--give-up-after` in seconds: a positive number. */
export function parseGiveUpAfter(value: string): number {
  const s = Number(value);
  if (value.trim() === '' || !Number.isFinite(s) || s <= 0)
    throw new UserError(`--give-up-after must be a positive number of seconds, got '${value}'`);
  return s;
}

/** The runtime's logger, plus one human line on stderr at the first failed connection of each outage. */
export function withUnreachableNotice(
  logger: ClientLogger,
  server: string,
  giveUpAfterS: number,
  write: (line: string) => void = (line) => process.stderr.write(line),
): ClientLogger {
  let told = false;
  return {
    log(level, event, fields) {
      logger.log(level, event, fields);
      if (event === 'connect-failed' && !told) {
        told = true;
        const why = typeof fields?.message === 'string' ? ` (${fields.message})` : '';
        write(
          `fedpeft join: cannot reach the coordinator at ${server}${why}; retrying with backoff, ` +
            `giving up after ${giveUpAfterS} s unreachable (--give-up-after). Ctrl-C to stop.\n`,
        );
      } else if (event === 'joined') {
        told = false;
      }
    },
  };
}

/** The runtime's give-up error as the CLI's one line: the URL, the limit and what to check. */
export function unreachableError(err: unknown, server: string, giveUpAfterS: number): unknown {
  if (!isFedpeftError(err) || err.code !== 'COORDINATOR_UNREACHABLE') return err;
  return new FedpeftError(
    err.code,
    `${err.message} (--give-up-after ${giveUpAfterS}). Check --server ${server}: is the coordinator ` +
      'running and listening on that host and port?',
  );
}
