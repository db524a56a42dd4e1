// Progress bars on a terminal, for downloads and training: one line redrawn in place ('\r', then clear to
// the end of the line), never wider than the terminal: when the fields do not fit, the least important are
// dropped first and the bar shrinks (renderBar). Below both the data and the training code, which use it.

/** Receives progress updates; the default draws a bar on stderr when it is a terminal. */
export interface ProgressSink {
  start(file: string, url: string, total: number | undefined): void;
  update(received: number): void;
  end(ok: boolean): void;
}

/** One piece of a progress line: text, or (with `fraction`) the bar itself, which stretches to fit. */
export interface BarField {
  text?: string;
  /** Fraction done, 0..1: this field is drawn as `[####....]`. */
  fraction?: number;
  /** Importance: when the line is too wide, the field with the lowest `keep` goes first. */
  keep: number;
}

const BAR_MIN = 6;
const BAR_MAX = 24;

function drawBar(fraction: number, inner: number): string {
  const f = Math.min(Math.max(Number.isFinite(fraction) ? fraction : 0, 0), 1);
  const filled = Math.round(f * inner);
  return `[${"#".repeat(filled)}${".".repeat(inner - filled)}]`;
}

/**
 * The fields, in order, joined by spaces, in at most `width` columns: the least important fields are dropped
 * until the rest fit with the bar at its minimum; the bar then takes the room left, up to its maximum. A
 * single field wider than `width` is cut. Pure, so it can be tested at any width.
 */
export function renderBar(fields: readonly BarField[], width: number): string {
  if (width < 1) return "";
  let active = [...fields];
  for (;;) {
    const texts = active.filter((f) => f.fraction === undefined);
    const bar = active.find((f) => f.fraction !== undefined);
    const fixed = texts.reduce((n, f) => n + (f.text ?? "").length, 0) + Math.max(active.length - 1, 0);
    const barRoom = width - fixed - 2;
    if (bar ? barRoom >= BAR_MIN : fixed <= width) {
      const inner = Math.min(BAR_MAX, barRoom);
      return active.map((f) => (f.fraction !== undefined ? drawBar(f.fraction, inner) : f.text ?? "")).join(" ");
    }
    if (active.length <= 1) {
      const only = active[0];
      if (!only) return "";
      return only.fraction !== undefined ? drawBar(only.fraction, Math.max(width - 2, 0)).slice(0, width) : (only.text ?? "").slice(0, width);
    }
    const least = active.reduce((lo, f) => (f.keep < lo.keep ? f : lo));
    active = active.filter((f) => f !== least);
  }
}

/** Seconds as m:ss under an hour, h:mm:ss above; "--:--" when unknown. */
export function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A line on a terminal, redrawn in place. One column is left free: writing the last column makes some
 * terminals wrap at once, and each redraw would then leave a line behind. */
export class TerminalLine {
  private open = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  draw(fields: readonly BarField[]): void {
    const width = Math.max((this.stream.columns || 80) - 1, 1);
    this.stream.write(`\r${renderBar(fields, width)}\x1b[K`);
    this.open = true;
  }

  /** Ends the line, so what follows starts on a line of its own. */
  end(): void {
    if (this.open) this.stream.write("\n");
    this.open = false;
  }
}

const MB = (bytes: number): string => (bytes / 1e6).toFixed(1);

/** A download's bar on a terminal, redrawn in place at most ten times a second. */
export function terminalProgress(stream: NodeJS.WriteStream, now: () => number = Date.now): ProgressSink {
  const line = new TerminalLine(stream);
  let name = "";
  let total: number | undefined;
  let started = 0;
  let lastDraw = 0;
  let received = 0;
  const draw = (force: boolean, failed = false): void => {
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    const rate = received / Math.max((t - started) / 1000, 1e-3);
    const fields: BarField[] = [{ text: name, keep: 100 }];
    if (total) {
      const fraction = Math.min(received / total, 1);
      fields.push(
        { fraction, keep: 50 },
        { text: `${Math.floor(fraction * 100)}%`.padStart(4), keep: 90 },
        { text: `${MB(received)}/${MB(total)} MB`, keep: 70 },
        { text: `${MB(rate)} MB/s`, keep: 40 },
        { text: `ETA ${clock(received > 0 ? (total - received) / rate : NaN)}`, keep: 60 },
      );
    } else {
      fields.push({ text: `${MB(received)} MB`, keep: 90 }, { text: `${MB(rate)} MB/s`, keep: 40 });
    }
    if (failed) fields.push({ text: "failed", keep: 95 });
    line.draw(fields);
  };
  return {
    start(file, _url, size) {
      name = file;
      total = size;
      received = 0;
      started = now();
      lastDraw = 0;
      draw(true);
    },
    update(n) {
      received = n;
      draw(false);
    },
    end(ok) {
      draw(true, !ok);
      line.end();
    },
  };
}
