import { FedpeftError } from '../shared/errors.ts';

/** An error meant for the person at the terminal (bad flag, missing file): printed as one line. */
export class UserError extends FedpeftError {
  constructor(message: string) {
    super('USAGE', message);
    this.name = 'UserError';
  }
}
