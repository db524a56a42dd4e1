// mpirun's output as `alexnet launch` relays it. mpirun runs with --tag-output, so every piece a rank wrote
// comes as `[job,rank]<stdout|stderr|stddiag>:text` (a line, or a piece of one) and everything else is
// Open MPI's own text (mpirun's and its daemons' messages). The relay strips the tags and passes the ranks'
// text on at once, to our stdout or stderr as the rank wrote it, and holds Open MPI's lines for `holdMs`
// (or until mpirun ends), so that when a rank dies on another host, the survivors' lines naming it come
// before Open MPI's generic banner: mpirun prints that banner itself about 0.1-0.4 s after the death, while
// the survivors' lines still travel through their own hosts' daemons (README, Several hosts).
// It also reports the first line in which a rank says it stops (`alexnet: rank 0 of 3: lost rank 1 on h2
// (...); stopping`), for the launcher's bound on the job's end.

export type RankStream = "stdout" | "stderr";

export interface RelaySinks {
  /** Text a rank wrote (no tag), to go out at once. */
  rank(stream: RankStream, text: string): void;
  /** A line of Open MPI's own (with its newline), after its hold. */
  openMpi(source: RankStream, text: string): void;
  /** The first `...; stopping` line of any rank: which rank said it, and the line. */
  stopping?(rank: number, line: string): void;
}

const TAG = /\[\d+,(\d+)\]<(stdout|stderr|stddiag)>:/g;
const TAG_AT_START = /^\[\d+,(\d+)\]<(stdout|stderr|stddiag)>:/;
/** What may still become a tag when more bytes come: `[`, `[1,`, `[1,0]<std`... */
const TAG_PREFIX = /\[(\d+(,(\d+(\](<[a-z]*>?)?)?)?)?)?$/;
const ONLY_TAG_PREFIX = new RegExp(`^${TAG_PREFIX.source}`);
const STOPPING = /^alexnet: rank (\d+) of \d+: .*; stopping$/;

interface SourceState {
  buffer: string;
  /** Where the text at the buffer's start belongs: a rank's stream, Open MPI, or unknown (a line start). */
  current: { rank: number; stream: RankStream } | "openMpi" | null;
}

export class MpirunRelay {
  private readonly sources: Record<RankStream, SourceState> = {
    stdout: { buffer: "", current: null },
    stderr: { buffer: "", current: null },
  };
  private readonly held: { source: RankStream; text: string; due: number }[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Each rank's unfinished line, only to spot its `stopping` line (capped: a progress bar never ends one). */
  private readonly rankLines = new Map<number, string>();
  private stopSeen = false;

  constructor(private readonly sinks: RelaySinks, private readonly holdMs: number) {}

  /** A chunk of mpirun's stdout or stderr. */
  push(source: RankStream, chunk: string): void {
    const s = this.sources[source];
    s.buffer += chunk;
    this.drain(source, false);
  }

  /** mpirun ended: whatever is buffered goes out, Open MPI's held lines last. */
  end(): void {
    for (const source of ["stdout", "stderr"] as const) this.drain(source, true);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.release(Infinity);
  }

  private drain(source: RankStream, final: boolean): void {
    const s = this.sources[source];
    while (s.buffer.length > 0) {
      if (s.current === null) {
        const tag = TAG_AT_START.exec(s.buffer);
        if (tag) {
          s.current = { rank: Number(tag[1]), stream: tag[2] === "stdout" ? "stdout" : "stderr" };
          s.buffer = s.buffer.slice(tag[0].length);
          continue;
        }
        if (!final && ONLY_TAG_PREFIX.test(s.buffer)) return; // maybe a tag, cut short
        s.current = "openMpi";
      }
      if (s.current === "openMpi") {
        const nl = s.buffer.indexOf("\n");
        if (nl < 0 && !final) return;
        const end = nl < 0 ? s.buffer.length : nl + 1;
        this.hold(source, s.buffer.slice(0, end));
        s.buffer = s.buffer.slice(end);
        s.current = null;
        continue;
      }
      // A rank's piece runs to its newline or to the next tag (a piece without a newline, then another's).
      const nl = s.buffer.indexOf("\n");
      TAG.lastIndex = 0;
      const next = TAG.exec(s.buffer);
      let end: number;
      if (next && (nl < 0 || next.index <= nl)) end = next.index;
      else if (nl >= 0) end = nl + 1;
      else {
        // No end in sight: pass the text on, except a tail that may be the start of a tag.
        const cut = final ? -1 : s.buffer.search(TAG_PREFIX);
        end = cut >= 0 ? cut : s.buffer.length;
        if (end === 0) return;
        this.rankText(s.current, s.buffer.slice(0, end));
        s.buffer = s.buffer.slice(end);
        if (cut >= 0) return;
        continue;
      }
      this.rankText(s.current, s.buffer.slice(0, end));
      s.buffer = s.buffer.slice(end);
      s.current = null;
    }
  }

  private rankText(to: { rank: number; stream: RankStream }, text: string): void {
    if (text.length === 0) return;
    this.sinks.rank(to.stream, text);
    if (this.stopSeen) return;
    let line = (this.rankLines.get(to.rank) ?? "") + text;
    for (let nl = line.indexOf("\n"); nl >= 0; nl = line.indexOf("\n")) {
      const m = STOPPING.exec(line.slice(0, nl));
      line = line.slice(nl + 1);
      if (m && !this.stopSeen) {
        this.stopSeen = true;
        this.sinks.stopping?.(to.rank, m[0]);
      }
    }
    this.rankLines.set(to.rank, line.slice(-1024));
  }

  private hold(source: RankStream, text: string): void {
    this.held.push({ source, text, due: Date.now() + this.holdMs });
    if (!this.timer) this.schedule();
  }

  private schedule(): void {
    const first = this.held[0];
    if (!first) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.release(Date.now());
      this.schedule();
    }, Math.max(0, first.due - Date.now()));
    this.timer.unref?.();
  }

  /** Open MPI's lines due by `now`, in the order they came. */
  private release(now: number): void {
    while (this.held.length > 0 && this.held[0]!.due <= now) {
      const line = this.held.shift()!;
      this.sinks.openMpi(line.source, line.text);
    }
  }
}
