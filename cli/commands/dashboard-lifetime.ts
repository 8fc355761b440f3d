/**
 * How long a command's dashboard stays up after its run is over: until the user stops it (Ctrl-C, SIGTERM),
 * so the page can still be read when training is done; `--exit-when-done` (scripts, CI) closes it at once.
 */

/** Resolves at the first SIGINT or SIGTERM (the listeners are removed again). */
export function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

/** Keeps a finished run's dashboard up until the user stops the command (unless `exitWhenDone`). */
export async function keepDashboardOpen(options: {
  url: string;
  exitWhenDone: boolean;
  write: (text: string) => void;
  close: () => Promise<void>;
}): Promise<void> {
  if (!options.exitWhenDone) {
    options.write(
      `\nthe run is over; the dashboard stays up at ${options.url}/ — press Ctrl-C to exit ` +
        '(--exit-when-done exits at once)\n',
    );
    await untilStopped();
  }
  await options.close();
}
