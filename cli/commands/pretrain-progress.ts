/** The progress bar of a first-use pretraining of a base (simulate, serve), on stderr. */
import type { PretrainEvents } from '../../shared/pretrain/pretrain-run.node.ts';
import { progressBar } from '../progress-bar.ts';

/** A progress bar for a first-use pretraining of the base (on stderr; the table goes to stdout). */
export function pretrainProgress(): { events: PretrainEvents; stop(): void } {
  let bar: ReturnType<typeof progressBar> | undefined;
  return {
    events: {
      onStart: () => {
        bar = progressBar('pretraining the base [{bar}] {percentage}% | loss {loss} | ETA {eta_formatted}');
      },
      onStep: (info) =>
        bar?.bar.update(Math.round(info.fractionDone * 1000), { loss: info.lossEma.toFixed(3) }),
    },
    stop: () => bar?.stop(),
  };
}
