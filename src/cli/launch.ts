// `alexnet launch [--mpirun PROGRAM] [--hold S] MPIRUN-ARGS... -- train|bench [FLAGS]`: mpirun around a
// distributed run, for jobs on several hosts. It runs
//   mpirun MPIRUN-ARGS --tag-output <keepalive for the collective timeout> node main.js COMMAND --distributed FLAGS
// and relays the output untagged (src/distributed/mpirunOutput.ts): the ranks' text at once, Open MPI's
// own lines held `--hold` seconds (default 2), so that when a rank is killed on another host the
// survivors' lines naming it come before Open MPI's generic banner. Open MPI's keepalive settings come
// from the command's --collective-timeout (else $ALEXNET_MPI_TIMEOUT, else 30 s) unless MPIRUN-ARGS set
// them. And it bounds the job's end: once a rank has said it stops, mpirun gets T seconds to end the job
// itself (it does, through that keepalive), then SIGTERM, and SIGKILL 3 s later.
// The exit code is mpirun's (128 + the signal's number when a signal ended it). SIGTERM and SIGHUP are
// passed on to mpirun; SIGINT from a terminal reaches mpirun directly (one process group), so the
// launcher itself only waits for mpirun to end.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { keepaliveFlags, keepaliveFor, timeoutFromEnv } from "../distributed/keepalive.js";
import { MpirunRelay } from "../distributed/mpirunOutput.js";
import { type Command, UsageError, didYouMean } from "./args.js";

const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const COMMANDS = ["train", "bench"];
const DEFAULT_HOLD_SECONDS = 2;

const USAGE = `usage: alexnet launch [--mpirun PROGRAM] [--hold SECONDS] [mpirun arguments] -- train|bench [flags]

Runs COMMAND --distributed under mpirun (every other argument before -- is mpirun's, e.g. -np 4
--hostfile hosts) and relays its output without mpirun's rank tags. When a rank stops (a lost host or
rank), every survivor's line comes before Open MPI's own text, and the job ends within 2x the collective
timeout: Open MPI's keepalive for --collective-timeout is passed unless given, and mpirun is ended if it
still runs that timeout after a rank stopped. Exit code: mpirun's.

  --mpirun PROGRAM   the mpirun to run (default: $ALEXNET_MPIRUN, else mpirun on PATH)
  --hold SECONDS     how long Open MPI's own lines are held back (default ${DEFAULT_HOLD_SECONDS})
  --help             show this help

example: alexnet launch --hostfile hosts -np 4 -- train --variant 28 --collective-timeout 20`;

interface LaunchPlan {
  program: string;
  args: string[];
  holdMs: number;
  timeoutSeconds: number;
}

/** What to run, from the launcher's arguments; a UsageError for what cannot be run. */
export function planLaunch(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): LaunchPlan | null {
  const sep = argv.indexOf("--");
  const before = sep < 0 ? [...argv] : argv.slice(0, sep);
  const after = sep < 0 ? [] : argv.slice(sep + 1);
  if (before.includes("--help") || before.includes("-h")) return null;
  let program = env.ALEXNET_MPIRUN || "mpirun";
  let holdSeconds = DEFAULT_HOLD_SECONDS;
  const mpirunArgs: string[] = [];
  for (let i = 0; i < before.length; i++) {
    const a = before[i]!;
    const [name, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    if (name !== "--mpirun" && name !== "--hold") {
      mpirunArgs.push(a);
      continue;
    }
    const value = inline ?? before[++i];
    if (value === undefined || value === "") throw new UsageError(`${name} needs a value`);
    if (name === "--mpirun") program = value;
    else {
      holdSeconds = Number(value);
      if (!Number.isFinite(holdSeconds) || holdSeconds < 0) throw new UsageError(`--hold must be a number of seconds >= 0, got '${value}'`);
    }
  }
  if (sep < 0) throw new UsageError("put the alexnet command after --, e.g. alexnet launch -np 2 -- train --variant 28");
  const [command, ...flags] = after;
  if (command === undefined) throw new UsageError("no command after --: train or bench");
  if (!COMMANDS.includes(command)) {
    throw new UsageError(`launch runs train or bench, not '${command}'${didYouMean(command, COMMANDS)}`);
  }
  if (!flags.includes("--distributed")) flags.unshift("--distributed");
  const timeoutSeconds = collectiveTimeout(flags, env);
  const keepalive = mpirunArgs.some((a) => a.includes("oob_tcp_keepalive")) ? [] : keepaliveFlags(keepaliveFor(timeoutSeconds));
  return {
    program,
    args: [...mpirunArgs, "--tag-output", ...keepalive, process.execPath, MAIN, command, ...flags],
    holdMs: holdSeconds * 1000,
    timeoutSeconds,
  };
}

/** The command's --collective-timeout (as the ranks will read it: the flag, else the environment, else 30 s). */
function collectiveTimeout(flags: readonly string[], env: NodeJS.ProcessEnv): number {
  let value: string | undefined;
  flags.forEach((f, i) => {
    if (f === "--collective-timeout") value = flags[i + 1];
    else if (f.startsWith("--collective-timeout=")) value = f.slice(f.indexOf("=") + 1);
  });
  const t = Number(value);
  return timeoutFromEnv(value !== undefined && t > 0 ? t : undefined, env);
}

export const launchCommand: Command = {
  name: "launch",
  async run(argv) {
    const plan = planLaunch(argv);
    if (!plan) {
      console.log(USAGE);
      return 0;
    }
    return runLaunch(plan);
  },
};

function runLaunch(plan: LaunchPlan): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(plan.program, plan.args, { stdio: ["inherit", "pipe", "pipe"] });
    const out = { stdout: process.stdout, stderr: process.stderr };
    let backstop: ReturnType<typeof setTimeout> | null = null;
    let kill: ReturnType<typeof setTimeout> | null = null;
    const relay = new MpirunRelay({
      rank: (stream, text) => out[stream].write(text),
      openMpi: (source, text) => out[source].write(text),
      stopping: (rank) => {
        backstop = setTimeout(() => {
          process.stderr.write(`alexnet launch: mpirun still runs ${plan.timeoutSeconds} s after rank ${rank} stopped; ending it\n`);
          child.kill("SIGTERM");
          kill = setTimeout(() => child.kill("SIGKILL"), 3000);
        }, plan.timeoutSeconds * 1000);
      },
    }, plan.holdMs);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => relay.push("stdout", d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => relay.push("stderr", d));
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers: [NodeJS.Signals, () => void][] = [["SIGTERM", forward("SIGTERM")], ["SIGHUP", forward("SIGHUP")], ["SIGINT", () => {}]];
    for (const [signal, handler] of handlers) process.on(signal, handler);
    child.on("error", (e: NodeJS.ErrnoException) => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      reject(new Error(e.code === "ENOENT"
        ? `cannot run '${plan.program}': no such program (Open MPI's mpirun: the Quick start installs it; another one: --mpirun PROGRAM)`
        : `cannot run '${plan.program}': ${e.message}`));
    });
    // mpirun's exit, not its pipes' close: the rsh agent of a cut-off host (mpirun's child) keeps them open
    // until the link returns. What mpirun wrote before it exited is read for up to half a second more.
    child.on("exit", (code, signal) => {
      for (const [sig, handler] of handlers) process.off(sig, handler);
      if (backstop) clearTimeout(backstop);
      if (kill) clearTimeout(kill);
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        relay.end();
        resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
      };
      const grace = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish();
      }, 500);
      child.on("close", () => {
        clearTimeout(grace);
        finish();
      });
    });
  });
}
