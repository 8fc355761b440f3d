/**
 * How long a command's dashboard stays up after its run is over: in a terminal, until the user stops it
 * (Ctrl-C, SIGTERM), so the page can still be read when training is done; `--exit-when-done` closes it at
 * once. Without a terminal (a script, CI, a test harness) the command exits when done unless
 * `--keep-dashboard` asks otherwise: nothing there could press Ctrl-C.
 */

/** Whether to keep the page up after the run: the flags, else "is a person watching" (stdout is a TTY). */
export function keepsDashboard(flags: { exitWhenDone?: boolean; keepDashboard?: boolean }): boolean {
  if (flags.exitWhenDone) return false;
  if (flags.keepDashboard) return true;
  return process.stdout.isTTY === true;
}

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
  keepOpen: boolean;
  write: (text: string) => void;
  close: () => Promise<void>;
}): Promise<void> {
  if (options.keepOpen) {
    options.write(
      `\nthe run is over; the dashboard stays up at ${options.url}/ — press Ctrl-C to exit ` +
        '(--exit-when-done exits at once)\n',
    );
    await untilStopped();
  }
  await options.close();
}
