// Open MPI's out-of-band keepalive and our collective timeout, for jobs on several hosts. A host that
// stops answering (power, network) closes no connection: our ranks name it after the collective timeout T
// (no heartbeat), and mpirun ends only when Open MPI's daemons give up on it, which they do through TCP
// keepalive on their out-of-band connections: between probes x interval and time + probes x interval
// seconds after the host went away (Linux: probes start after `time` idle seconds, one each `interval`,
// and the connection is dropped after `probes` unanswered ones). The defaults (300 s, 20 s, 9) mean up to
// 8 minutes. A rank that named a lost host waits for that instead of exiting (native/mpi/comm.cc, Hold),
// because mpirun, once a rank has exited, sends its abort to the lost daemon too, and Linux sends no
// keepalive probes on a connection with unacknowledged data: mpirun would then wait for TCP's
// retransmission timeout (about 15 minutes) or for the link to return.
//
// So the settings must put Open MPI's detection after our line (probes x interval > T) and the end of the
// job, a further 2 s of SIGCONT/SIGTERM/SIGKILL, within 2 T: keepaliveFor(T) gives such settings, and
// keepaliveProblem says why the settings a rank was started with do not fit (for rank 0's warning).

/** Seconds a collective may wait for the other ranks before this rank names the lost one and exits. */
export const DEFAULT_TIMEOUT_SECONDS = 30;

/** The collective timeout: the flag, else $ALEXNET_MPI_TIMEOUT, else DEFAULT_TIMEOUT_SECONDS. */
export function timeoutFromEnv(flag: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  if (flag !== undefined) return flag;
  const v = Number(env.ALEXNET_MPI_TIMEOUT);
  return env.ALEXNET_MPI_TIMEOUT !== undefined && v > 0 ? v : DEFAULT_TIMEOUT_SECONDS;
}

export interface Keepalive {
  time: number;
  intvl: number;
  probes: number;
}

export const OPEN_MPI_DEFAULT: Keepalive = { time: 300, intvl: 20, probes: 9 };

/** Seconds Open MPI's daemons need at most to end a job after its kill order (SIGCONT, then SIGTERM and
 * SIGKILL a second apart, odls_base_sigkill_timeout) and a margin for the messages. */
const KILL_SECONDS = 3;

/** Settings for a collective timeout of T seconds (T >= 8): a lost host ends the job between T + 2 and
 * 2 T seconds after it went away, after every surviving rank printed its line. */
export function keepaliveFor(timeoutSeconds: number): Keepalive {
  const t = Math.max(8, Math.ceil(timeoutSeconds));
  const intvl = Math.max(1, Math.floor(t / 8));
  const probes = Math.ceil((t + 2) / intvl);
  const time = Math.max(1, Math.min(Math.floor(t / 3), 2 * t - KILL_SECONDS - 2 - probes * intvl));
  return { time, intvl, probes };
}

/** The mpirun flags for these settings. */
export function keepaliveFlags(k: Keepalive): string[] {
  return ["--mca", "oob_tcp_keepalive_time", String(k.time), "--mca", "oob_tcp_keepalive_intvl", String(k.intvl),
    "--mca", "oob_tcp_keepalive_probes", String(k.probes)];
}

/** The settings this rank was started with (mpirun puts --mca values in OMPI_MCA_* variables). */
export function keepaliveFromEnv(env: NodeJS.ProcessEnv = process.env): Keepalive {
  const read = (name: string, fallback: number): number => {
    const v = Number(env[`OMPI_MCA_oob_tcp_keepalive_${name}`]);
    return v > 0 ? v : fallback;
  };
  return { time: read("time", OPEN_MPI_DEFAULT.time), intvl: read("intvl", OPEN_MPI_DEFAULT.intvl), probes: read("probes", OPEN_MPI_DEFAULT.probes) };
}

/** Why these settings do not end a job that lost a host within 2 T after our line, or null. */
export function keepaliveProblem(k: Keepalive, timeoutSeconds: number): string | null {
  const first = k.probes * k.intvl;
  const last = k.time + first + KILL_SECONDS;
  if (first <= timeoutSeconds + 1) {
    return `Open MPI's keepalive (time ${k.time} s, interval ${k.intvl} s, ${k.probes} probes) may end a job that lost a host after ${first} s, ` +
      `before the ranks name it (collective timeout ${timeoutSeconds} s)`;
  }
  if (last > 2 * timeoutSeconds) {
    return `Open MPI's keepalive (time ${k.time} s, interval ${k.intvl} s, ${k.probes} probes) ends a job that lost a host only after up to ${last} s`;
  }
  return null;
}
