// Live progress of a training run. On a terminal: one bar per epoch, redrawn in place, with running loss,
// accuracy, examples/s and ETA. Elsewhere (CI, log files): a plain line every tenth of an epoch.
import type { StepInfo } from "./trainer.js";

export interface ProgressOptions {
  stream: NodeJS.WriteStream;
  epochs: number;
  /** Force the plain-line mode even on a terminal. */
  plain?: boolean;
}

const clock = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
};

export class Progress {
  private readonly tty: boolean;
  private lastPlainTenth = -1;
  private barOpen = false;

  constructor(private readonly options: ProgressOptions) {
    this.tty = !options.plain && options.stream.isTTY === true;
  }

  step(info: StepInfo): void {
    const done = info.batch + 1;
    const last = done === info.numBatches;
    const text = `loss ${info.trainLoss.toFixed(3)}, train acc ${info.trainAcc.toFixed(3)}, ` +
      `${info.examplesPerSec.toFixed(1)} examples/s, ETA ${this.eta(info)}`;
    const epochLabel = `epoch ${info.epoch + 1}/${this.options.epochs}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((done / info.numBatches) * width);
      const bar = "#".repeat(filled) + ".".repeat(width - filled);
      this.options.stream.write(`\r${epochLabel} [${bar}] ${done}/${info.numBatches} ${text}\x1b[K`);
      this.barOpen = true;
      if (last) this.endLine();
      return;
    }
    const tenth = Math.floor((done * 10) / info.numBatches);
    if (tenth === this.lastPlainTenth && !last) return;
    this.lastPlainTenth = last ? -1 : tenth;
    this.options.stream.write(`${epochLabel} batch ${done}/${info.numBatches}: ${text}\n`);
  }

  /** Seconds left in this epoch's training steps, from the running examples/s. */
  private eta(info: StepInfo): string {
    const left = info.numBatches - info.batch - 1;
    const batchSize = info.batchSize;
    return clock(info.examplesPerSec > 0 && batchSize > 0 ? (left * batchSize) / info.examplesPerSec : NaN);
  }

  /** A line of its own (epoch summaries, messages), closing an open bar first. */
  line(text: string): void {
    this.endLine();
    this.options.stream.write(`${text}\n`);
  }

  private endLine(): void {
    if (this.barOpen) this.options.stream.write("\n");
    this.barOpen = false;
  }
}
