// Shared by the reliability suite (test/reliability.*.test.ts): the CLI driven as a child process, a seeded
// PRNG for reproducible schedules and mutations, checkpoint inspection, and the counts behind the summary
// line. Node runs each test file in its own process, so counts go to a directory named after the test
// runner's pid (the parent of every file's process), where the last file (reliability.summary) reads them.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCheckpoint } from "../src/checkpoint/checkpoint.js";
import { CLI } from "./cliProcess.js";

export { CLI };

/** test/train.test.ts's narrow AlexNet: the same layers and code paths, fast enough for CI. */
export const QUICK = ["--variant", "28", "--width-scale", "0.125", "--batch-size", "64", "--lr", "0.02", "--momentum", "0.9", "--seed", "0", "--plain"];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function alexnet(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cli?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [options.cli ?? CLI, ...args], {
    encoding: "utf8", timeout: options.timeoutMs ?? 120_000, env: options.env ?? process.env,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A CLI failure as a user sees it: exit 1 or 2 and no stack trace (main.ts prints one only with ALEXNET_DEBUG). */
export function assertCleanFailure(r: CliResult, what: string): void {
  assert.ok(r.code === 1 || r.code === 2, `${what}: exit ${r.code} (signal ${r.signal}); stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, `${what}: stack trace in stderr: ${r.stderr}`);
  assert.ok(r.stderr.trim().length > 0, `${what}: no message`);
}

/** A child process with its stderr collected, for tests that kill it or watch its progress. */
export class Child {
  readonly proc: ChildProcess;
  stderr = "";
  stdout = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], options: { cli?: string } = {}) {
    this.proc = spawn(process.execPath, [options.cli ?? CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves true once `test()` holds (checked every `everyMs`), false if the process exits first. */
  waitFor(test: () => boolean, everyMs = 2): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (test()) {
          clearInterval(timer);
          resolve(true);
        } else if (!this.running) {
          clearInterval(timer);
          resolve(false);
        }
      };
      const timer = setInterval(check, everyMs);
      check();
    });
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.running) this.proc.kill(signal);
    await this.exited;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A child's stdout and stderr together as they come, and its exit code (at its exit, not its pipes' close). */
export function collect(child: ChildProcess): { out: () => string; exited: Promise<number | null> } {
  let text = "";
  child.stdout!.on("data", (d: Buffer) => (text += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (text += d.toString()));
  return { out: () => text, exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) };
}

/** Polls `test` every 20 ms until it holds (true) or `timeoutMs` passed (false). */
export async function waitFor(test: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (test()) return true;
    await sleep(20);
  }
  return false;
}

/** mulberry32: a tiny seeded PRNG, so every schedule and mutation here is the same on every run. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

/** Random truncations, bit flips, byte overwrites, insertions and random bytes of a valid input. */
export function mutate(valid: Uint8Array, rng: ReturnType<typeof prng>): Uint8Array {
  const kind = rng.int(5);
  if (kind === 0) return valid.slice(0, rng.int(valid.length));
  if (kind === 4) return Uint8Array.from({ length: rng.int(2 * valid.length + 1) }, () => rng.int(256));
  const out = new Uint8Array(valid);
  const n = 1 + rng.int(8);
  // Most damage near the start, where headers are: that is where sizes and offsets come from.
  const at = (): number => (rng.next() < 0.6 ? rng.int(Math.min(out.length, 64)) : rng.int(out.length));
  if (out.length === 0) return out;
  if (kind === 1) for (let i = 0; i < n; i++) out[at()]! ^= 1 << rng.int(8);
  if (kind === 2) for (let i = 0; i < n; i++) out[at()] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
  if (kind === 3) {
    const i = at();
    return new Uint8Array([...out.subarray(0, i), ...Array.from({ length: n }, () => rng.int(256)), ...out.subarray(i)]);
  }
  return out;
}

export const STEP = /^step-(\d+)$/;

/** The checkpoint directories of a run: complete ones (step-N) by step, and leftovers of interrupted writes. */
export function listCheckpoints(runDir: string): { steps: number[]; leftovers: string[] } {
  const dir = join(runDir, "checkpoints");
  const names = existsSync(dir) ? readdirSync(dir) : [];
  return {
    steps: names.filter((n) => STEP.test(n)).map((n) => Number(STEP.exec(n)![1])).sort((a, b) => a - b),
    leftovers: names.filter((n) => /^step-\d+\.(tmp|old|del)-\d+$/.test(n)),
  };
}

/** The newest step (below `below`, if given) whose checkpoint verifies (checksums), or -1. */
export function newestGoodStep(runDir: string, below = Infinity): number {
  const { steps } = listCheckpoints(runDir);
  for (const s of steps.reverse()) {
    if (s >= below) continue;
    try {
      readCheckpoint(join(runDir, "checkpoints", `step-${String(s).padStart(9, "0")}`));
      return s;
    } catch {
      // damaged by a test, or by hand
    }
  }
  return -1;
}

export interface Counts {
  kills: number;
  inputs: number;
  faults: number;
  notes: string[];
}

function countsDir(): string {
  return join(tmpdir(), `alexnet-reliability-${process.ppid}`);
}

/** Adds to this file's counts (read by reliability.summary.test.ts). */
export function record(file: string, add: Partial<Counts>): void {
  const dir = countsDir();
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${file}.json`);
  const now: Counts = existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Counts) : { kills: 0, inputs: 0, faults: 0, notes: [] };
  now.kills += add.kills ?? 0;
  now.inputs += add.inputs ?? 0;
  now.faults += add.faults ?? 0;
  now.notes.push(...(add.notes ?? []));
  writeFileSync(path, JSON.stringify(now));
}

export function readAllCounts(): { files: string[]; total: Counts; dir: string } {
  const dir = countsDir();
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")).sort() : [];
  const total: Counts = { kills: 0, inputs: 0, faults: 0, notes: [] };
  for (const f of files) {
    const c = JSON.parse(readFileSync(join(dir, f), "utf8")) as Counts;
    total.kills += c.kills;
    total.inputs += c.inputs;
    total.faults += c.faults;
    total.notes.push(...c.notes);
  }
  return { files, total, dir };
}
