// `alexnet train`'s live progress. On a terminal: one line redrawn in place (src/io/progressBar.ts), with the
// epoch's ETA and the whole run's ETA. Elsewhere (CI, log files): a plain line every tenth of an epoch.
import { TerminalLine, clock } from "../io/progressBar.js";
import type { StepInfo } from "../train/trainer.js";

/** A loss or accuracy to 3 decimals; "-" before the trainer's first read of the epoch. */
function metric(value: number | null): string {
  return value === null ? "-" : value.toFixed(3);
}

export interface ProgressOptions {
  stream: NodeJS.WriteStream;
  epochs: number;
  /** Test batches evaluated after each epoch: until an epoch end is measured, the run ETA estimates them. */
  testBatches?: number;
  /** Force the plain-line mode even on a terminal. */
  plain?: boolean;
  /** Injectable for tests (ms). Default: performance.now. */
  now?: () => number;
}

/** A forward pass costs about a third of a training step (forward plus a backward twice as long). */
const EVAL_COST_PER_BATCH = 1 / 3;

/** Training progress: a bar per epoch on a terminal, plain lines elsewhere. */
export class Progress {
  private readonly tty: boolean;
  private readonly terminal: TerminalLine;
  private readonly now: () => number;
  private lastPlainTenth = -1;
  /** When the last training step of an epoch ended, and the epoch it belonged to. */
  private epochEnd: { at: number; epoch: number } | null = null;
  /** Measured seconds between epochs (evaluation, checkpoint, plots), once an epoch boundary was seen. */
  private betweenEpochs: number | null = null;

  constructor(private readonly options: ProgressOptions) {
    this.tty = !options.plain && options.stream.isTTY === true;
    this.terminal = new TerminalLine(options.stream);
    this.now = options.now ?? (() => performance.now());
  }

  step(info: StepInfo): void {
    const done = info.batch + 1;
    const last = done === info.numBatches;
    const secsPerBatch = info.examplesPerSec > 0 && info.batchSize > 0 ? info.batchSize / info.examplesPerSec : NaN;
    this.measureBetweenEpochs(info, secsPerBatch);
    const epochEta = (info.numBatches - done) * secsPerBatch;
    const epochLabel = `epoch ${info.epoch + 1}/${this.options.epochs}`;
    if (this.tty) {
      this.terminal.draw([
        { text: epochLabel, keep: 100 },
        { fraction: done / info.numBatches, keep: 40 },
        { text: `${done}/${info.numBatches}`, keep: 60 },
        { text: `loss ${metric(info.trainLoss)}`, keep: 70 },
        { text: `acc ${metric(info.trainAcc)}`, keep: 50 },
        { text: `${info.examplesPerSec.toFixed(1)} ex/s`, keep: 30 },
        { text: `ETA ${clock(epochEta)}`, keep: 80 },
        { text: `run ETA ${clock(this.runEta(info, epochEta, secsPerBatch))}`, keep: 90 },
      ]);
      if (last) this.terminal.end();
    } else {
      const tenth = Math.floor((done * 10) / info.numBatches);
      if (tenth !== this.lastPlainTenth || last) {
        this.lastPlainTenth = last ? -1 : tenth;
        const text = `loss ${metric(info.trainLoss)}, train acc ${metric(info.trainAcc)}, ` +
          `${info.examplesPerSec.toFixed(1)} examples/s, ETA ${clock(epochEta)}`;
        this.options.stream.write(`${epochLabel} batch ${done}/${info.numBatches}: ${text}\n`);
      }
    }
    if (last) this.epochEnd = { at: this.now(), epoch: info.epoch };
  }

  /** The time from one epoch's last step to the next epoch's first, less that first step. */
  private measureBetweenEpochs(info: StepInfo, secsPerBatch: number): void {
    if (!this.epochEnd || info.batch !== 0 || info.epoch !== this.epochEnd.epoch + 1) return;
    const gap = (this.now() - this.epochEnd.at) / 1000 - (Number.isFinite(secsPerBatch) ? secsPerBatch : 0);
    this.betweenEpochs = Math.max(gap, 0);
    this.epochEnd = null;
  }

  /** Seconds until the last epoch's evaluation ends: this epoch's rest, then whole epochs at this epoch's speed. */
  private runEta(info: StepInfo, epochEta: number, secsPerBatch: number): number {
    const betweenEpochs = this.betweenEpochs ?? (this.options.testBatches ?? 0) * secsPerBatch * EVAL_COST_PER_BATCH;
    const epochsAfter = Math.max(this.options.epochs - info.epoch - 1, 0);
    return epochEta + betweenEpochs + epochsAfter * (info.numBatches * secsPerBatch + betweenEpochs);
  }

  /** A line of its own (epoch summaries, messages), closing an open bar first. */
  line(text: string): void {
    this.terminal.end();
    this.options.stream.write(`${text}\n`);
  }
}
