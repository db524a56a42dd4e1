// alexnet_mpi.node's communication thread: it owns MPI (every MPI call after MPI_Init_thread is made here,
// so MPI_THREAD_FUNNELED suffices), runs the queued collectives with nonblocking calls and MPI_Test polls,
// and between polls is the fault detector: the liveness links (liveness.h: a peer's process that ended,
// on any host, before MPI touches its connections again), heartbeats to and from every peer, the pids of
// peers on this host, and the collective timeout. A lost peer ends the process with one line naming the
// rank and its host (Diagnose).
#include "comm.h"

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

namespace alexnet_mpi {

State* g = nullptr;
std::thread* commThread = nullptr;
constexpr int kBeatTag = 17;

volatile sig_atomic_t continued = 0;

void OnContinued(int) { continued = 1; }

[[noreturn]] void Fatal(const std::string& line, double holdSeconds) {
  std::string msg = line + "\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
  // Nothing more happens on this thread, so nothing more happens in MPI: JavaScript waits for jobs that
  // never finish, and the process waits to be ended (see Hold).
  if (holdSeconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(holdSeconds));
  // _exit: JavaScript may be blocked in Wait and MPI in an unfinishable collective; exit() would run
  // destructors that join this very thread or call into MPI.
  _exit(1);
}

std::string Prefix() {
  return "alexnet: rank " + std::to_string(g->rank) + " of " + std::to_string(g->size) + ": ";
}

std::string Name(int p) {
  return "rank " + std::to_string(p) + (g->peers[p].host.empty() ? "" : " on " + g->peers[p].host);
}

double EnvSeconds(const char* name, double fallback) {
  const char* v = getenv(name);
  double x = v ? std::atof(v) : 0;
  return x > 0 ? x : fallback;
}

// A pid on this host that no longer runs (gone, or a zombie mpirun has not reaped yet).
bool PidGone(int pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  size_t close = content.rfind(')');
  return close != std::string::npos && close + 2 < content.size() && (content[close + 2] == 'Z' || content[close + 2] == 'X');
}

void SendBeats() {
  static int64_t payload[1];
  static std::vector<MPI_Request> pending;
  // Completed sends are freed; a peer that stopped reading leaves at most timeout/interval of them.
  for (auto& r : pending) {
    if (r != MPI_REQUEST_NULL) {
      int flag = 0;
      MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
    }
  }
  std::vector<MPI_Request> still;
  for (auto& r : pending) if (r != MPI_REQUEST_NULL) still.push_back(r);
  pending.swap(still);
  payload[0] = g->started.load();
  // Each send needs its own buffer alive until it completes; beats carry a counter, so a small ring works.
  static int64_t ring[4096];
  static size_t slot = 0;
  for (int p = 0; p < g->size; p++) {
    if (p == g->rank) continue;
    int64_t* buf = &ring[slot++ % 4096];
    *buf = payload[0];
    MPI_Request req;
    if (MPI_Isend(buf, 1, MPI_INT64_T, p, kBeatTag, g->beat, &req) == MPI_SUCCESS) pending.push_back(req);
  }
}

void ReadBeats() {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kBeatTag, g->beat, &flag, &st) != MPI_SUCCESS || !flag) return;
    int64_t counter = 0;
    MPI_Recv(&counter, 1, MPI_INT64_T, st.MPI_SOURCE, kBeatTag, g->beat, MPI_STATUS_IGNORE);
    Peer& peer = g->peers[st.MPI_SOURCE];
    peer.lastBeat = Clock::now();
    if (counter > peer.counter) peer.counter = counter;
  }
}

// How long a rank that lost a silent peer on another host waits before it exits. If it exited at once,
// mpirun would start ending the job and send its order to every daemon, the unreachable one too; from then
// on that connection has unacknowledged data, Linux sends no keepalive probes on such a connection, and
// mpirun waits for the lost daemon for TCP's retransmission timeout (about 15 minutes, tcp_retries2) or
// until the link returns. Waiting instead leaves the connection idle, so Open MPI's out-of-band keepalive
// finds the lost host, at most time + intvl x probes after its last heartbeat, and ends the whole job itself
// (SIGCONT, SIGTERM and SIGKILL a second apart). The rank exits by itself only if that did not happen
// 4 s after the bound (a peer that is alive but stopped, whose daemon answers).
double Hold(int p) {
  double bound = g->keepaliveTime + g->keepaliveIntvl * g->keepaliveProbes + 4;
  return std::max(0.0, bound - Seconds(g->peers[p].lastBeat));
}

struct Verdict {
  std::string line;   // "" when every peer looks healthy
  double hold = 0;    // seconds to wait before exiting (see Hold)
  bool gone = false;  // certain: the peer's liveness link closed
};

// Which peer is lost, in order of certainty: one whose liveness link closed (its process ended, on any
// host), one on this host whose process is gone, the peer silent the longest when heartbeats stopped (dead
// or stopped elsewhere, or its host cut off), one that has not started the collective we wait in (alive but
// stuck before it).
Verdict Diagnose(bool inCollective, const char* what, double waited) {
  int silentest = -1;
  double silent = 0;
  for (int p = 0; p < g->size; p++) {
    if (p == g->rank) continue;
    double s = Seconds(g->peers[p].lastBeat);
    if (s > silent) {
      silent = s;
      silentest = p;
    }
  }
  int gone = g->liveness.Gone();
  // A peer that ended while another had been silent for several heartbeats most likely ended because of
  // that one (it named it and exited, or Open MPI ended it): the silent one is the lost one.
  if (gone >= 0 && !(silentest >= 0 && silentest != gone && silent > 3 * g->heartbeatSeconds)) {
    int pid = g->peers[gone].pid;
    // 0.2 s before exiting, without MPI: the other survivors see this peer's link close, not ours.
    return {"lost " + Name(gone) + (pid > 0 ? " (its process, pid " + std::to_string(pid) + ", is gone)" : " (its process is gone)") + "; stopping",
            0.2, true};
  }
  if (gone >= 0) {
    return {"lost " + Name(silentest) + " (no heartbeat for " + std::to_string(static_cast<int>(silent)) + " s; rank " + std::to_string(gone) +
                " ended since); stopping", 0.2, true};
  }
  for (int p = 0; p < g->size; p++) {
    if (p != g->rank && PidGone(g->peers[p].pid)) {
      return {"lost " + Name(p) + " (its process, pid " + std::to_string(g->peers[p].pid) + ", is gone); stopping"};
    }
  }
  if (silentest >= 0 && silent > g->timeoutSeconds) {
    bool remote = g->peers[silentest].host != g->host;
    return {"lost " + Name(silentest) + " (no heartbeat for " + std::to_string(static_cast<int>(silent)) + " s); stopping",
            remote ? Hold(silentest) : 0};
  }
  // Open MPI is ending the job (its daemons' SIGCONT came): name the peer that went silent, if one did.
  if (continued && silentest >= 0 && silent > 3 * g->heartbeatSeconds) {
    return {"lost " + Name(silentest) + " (no heartbeat for " + std::to_string(static_cast<int>(silent)) + " s; Open MPI is ending the job); stopping", 0.2};
  }
  if (inCollective && waited > g->timeoutSeconds) {
    int64_t mine = g->started.load();
    for (int p = 0; p < g->size; p++) {
      if (p != g->rank && g->peers[p].counter < mine) {
        return {"lost " + Name(p) + " (alive but it did not reach " + what + " #" + std::to_string(mine) + " within " +
                std::to_string(static_cast<int>(g->timeoutSeconds)) + " s); stopping"};
      }
    }
    return {std::string(what) + " #" + std::to_string(mine) + " did not finish within " + std::to_string(static_cast<int>(g->timeoutSeconds)) +
            " s (no rank identified as lost); stopping"};
  }
  return {};
}

Clock::time_point lastSent, lastWatched;

// One round of fault detection: the verdict naming a lost peer, or an empty one.
Verdict Watch(bool inCollective, const char* what, double waited) {
  // This thread did not run for a while (the process was stopped, or the machine stalled): the peers'
  // silence meanwhile says nothing about them.
  if (Seconds(lastWatched) > 2 * g->heartbeatSeconds) {
    for (Peer& peer : g->peers) peer.lastBeat = Clock::now();
  }
  lastWatched = Clock::now();
  if (g->watching) {
    // First, before MPI touches a dead peer's connections (where Open MPI prints its own warnings).
    int gone = g->liveness.Gone();
    if (gone >= 0) return Diagnose(inCollective, what, waited);
  }
  if (g->size > 1 && Seconds(lastSent) >= g->heartbeatSeconds) {
    SendBeats();
    lastSent = Clock::now();
  }
  ReadBeats();
  if (!g->watching) return {};
  // A SIGCONT counts for 3 s: Open MPI's SIGKILL follows it after 2 s (odls_base_sigkill_timeout, twice).
  static Clock::time_point continuedAt;
  static bool ending = false;
  if (continued && !ending) {
    ending = true;
    continuedAt = Clock::now();
  }
  if (ending && Seconds(continuedAt) > 3) {
    ending = false;
    continued = 0;
  }
  // Polls come every 0.5 ms; looking at /proc that often would only cost CPU the computation needs.
  static Clock::time_point lastLook;
  if (Seconds(lastLook) < 0.05 && waited <= g->timeoutSeconds) return {};
  lastLook = Clock::now();
  return Diagnose(inCollective, what, waited);
}

// A lost peer ends this process, unless the collective turns out to be complete: a peer may finish a
// collective and exit before we see it complete (its data has arrived by then), and at the final barrier
// a peer that exits closes its liveness link too, so there MPI gets 2 s to complete it. Elsewhere a
// closed link is certain and MPI is not called again (it would touch the dead peer's connections).
void Lost(MPI_Request* req, const char* what, const Verdict& v) {
  bool last = std::strcmp(what, "final barrier") == 0;
  if (!v.gone || last) {
    auto start = Clock::now();
    do {
      int flag = 0;
      MPI_Test(req, &flag, MPI_STATUS_IGNORE);
      if (flag) return;
      if (last) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } while (last && Seconds(start) < 2);
  }
  Fatal(Prefix() + v.line, v.hold);
}

void Complete(MPI_Request* req, const char* what) {
  auto start = Clock::now();
  int usec = 20;
  for (;;) {
    // The liveness links before MPI's progress: a peer that died is named before Open MPI's own text.
    if (g->watching && g->liveness.Gone() >= 0) {
      Verdict v = Diagnose(true, what, Seconds(start));
      if (!v.line.empty()) {
        Lost(req, what, v);
        return;
      }
    }
    int flag = 0;
    int rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      char err[MPI_MAX_ERROR_STRING];
      int len = 0;
      MPI_Error_string(rc, err, &len);
      Verdict v = Watch(true, what, 1e30);  // names the lost rank when it can
      Fatal(Prefix() + (v.line.empty() ? std::string(what) + " failed: " + std::string(err, len) : v.line), v.hold);
    }
    if (flag) return;
    Verdict v = Watch(true, what, Seconds(start));
    if (!v.line.empty()) {
      // A peer may finish a collective and exit before we see it complete: its data has arrived by then.
      Lost(req, what, v);
      return;
    }
    // Short sleeps, growing to 0.5 ms: polling must not take a core from the computation it overlaps.
    std::this_thread::sleep_for(std::chrono::microseconds(usec));
    if (usec < 500) usec *= 2;
  }
}

void Run(Job& job) {
  g->started++;
  MPI_Request req = MPI_REQUEST_NULL;
  switch (job.kind) {
    case Kind::kAllreduceF32: {
      float* f = static_cast<float*>(job.data);
      if (job.scale != 1.0) {
        float s = static_cast<float>(job.scale);
        for (int64_t i = 0; i < job.count; i++) f[i] *= s;
      }
      MPI_Iallreduce(MPI_IN_PLACE, f, static_cast<int>(job.count), MPI_FLOAT, MPI_SUM, g->data, &req);
      Complete(&req, job.what);
      break;
    }
    case Kind::kAllreduceF64:
      MPI_Iallreduce(MPI_IN_PLACE, job.data, static_cast<int>(job.count), MPI_DOUBLE, MPI_SUM, g->data, &req);
      Complete(&req, job.what);
      break;
    case Kind::kBarrier:
      MPI_Ibarrier(g->data, &req);
      Complete(&req, job.what);
      break;
    case Kind::kAllgather: {
      int len = static_cast<int>(job.text.size());
      std::vector<int> lens(g->size), displs(g->size);
      MPI_Iallgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, g->data, &req);
      Complete(&req, job.what);
      int total = 0;
      for (int p = 0; p < g->size; p++) {
        displs[p] = total;
        total += lens[p];
      }
      std::vector<char> all(total > 0 ? total : 1);
      g->started++;
      MPI_Iallgatherv(job.text.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, g->data, &req);
      Complete(&req, job.what);
      for (int p = 0; p < g->size; p++) job.gathered.emplace_back(all.data() + displs[p], lens[p]);
      break;
    }
  }
}

// Every rank's string, by rank (blocking; start-up only).
std::vector<std::string> AllgatherStrings(const std::string& mine) {
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(g->size), displs(g->size);
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, g->data);
  int total = 0;
  for (int p = 0; p < g->size; p++) {
    displs[p] = total;
    total += lens[p];
  }
  std::vector<char> all(total > 0 ? total : 1);
  MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, g->data);
  std::vector<std::string> out;
  for (int p = 0; p < g->size; p++) out.emplace_back(all.data() + displs[p], lens[p]);
  return out;
}

// The peers' hosts and the liveness links (a nonce from rank 0 tells this job's handshakes from others').
void SetUpPeers() {
  uint64_t nonce = 0;
  if (g->rank == 0) {
    std::random_device rd;
    nonce = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  }
  MPI_Bcast(&nonce, 1, MPI_UINT64_T, 0, g->data);
  g->liveness.Listen();
  std::vector<std::string> all = AllgatherStrings(g->host + "\n" + g->liveness.Card());
  std::vector<std::string> cards;
  for (int p = 0; p < g->size; p++) {
    size_t nl = all[p].find('\n');
    g->peers[p].host = all[p].substr(0, nl);
    cards.push_back(nl == std::string::npos ? "" : all[p].substr(nl + 1));
  }
  g->liveness.Connect(g->rank, cards, nonce, 10.0);
  g->keepaliveTime = EnvSeconds("OMPI_MCA_oob_tcp_keepalive_time", 300);
  g->keepaliveIntvl = EnvSeconds("OMPI_MCA_oob_tcp_keepalive_intvl", 20);
  g->keepaliveProbes = EnvSeconds("OMPI_MCA_oob_tcp_keepalive_probes", 9);
}

void CommMain(double timeoutSeconds) {
  // Node loads addons RTLD_LOCAL; Open MPI's plugins (dlopen'ed by libmpi) need libmpi's symbols global.
  if (!dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  int provided = 0;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  // JavaScript waits in Init until initDone: nothing else touches the state meanwhile.
  if (rc == MPI_SUCCESS) {
    MPI_Comm_rank(MPI_COMM_WORLD, &g->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g->size);
    MPI_Comm_dup(MPI_COMM_WORLD, &g->data);
    MPI_Comm_dup(MPI_COMM_WORLD, &g->beat);
    // Errors come back to us, so the line that ends the run is ours and names the lost rank.
    MPI_Comm_set_errhandler(g->data, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(g->beat, MPI_ERRORS_RETURN);
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(name, &len);
    g->host.assign(name, len);
    g->timeoutSeconds = timeoutSeconds;
    g->peers.assign(g->size, Peer{Clock::now(), 0, -1, ""});
    SetUpPeers();
    for (Peer& peer : g->peers) peer.lastBeat = Clock::now();
  }
  {
    std::lock_guard<std::mutex> lock(g->mu);
    if (rc != MPI_SUCCESS) g->initError = "MPI_Init_thread failed";
    g->initDone = true;
  }
  g->cv.notify_all();
  if (rc != MPI_SUCCESS) return;
  lastSent = Clock::now() - std::chrono::hours(1);
  lastWatched = Clock::now();
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(g->mu);
      g->cv.wait_for(lock, std::chrono::milliseconds(10), [] { return g->stop || !g->queue.empty(); });
      if (!g->queue.empty()) {
        job = g->queue.front();
        g->queue.pop_front();
      } else if (g->stop) {
        break;
      }
    }
    if (!job) {
      Verdict v = Watch(false, "", 0);
      if (!v.line.empty()) Fatal(Prefix() + v.line, v.hold);
      continue;
    }
    auto start = Clock::now();
    Run(*job);
    {
      std::lock_guard<std::mutex> lock(g->mu);
      job->commSeconds = Seconds(start);
      g->commSecondsTotal += job->commSeconds;
      job->done = true;
    }
    g->cv.notify_all();
  }
  g->liveness.Close();
  MPI_Comm_free(&g->data);
  MPI_Comm_free(&g->beat);
  MPI_Finalize();
}

std::shared_ptr<Job> Enqueue(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(g->mu);
    job->id = g->nextId++;
    g->queue.push_back(job);
    g->all.push_back(job);
  }
  g->cv.notify_all();
  return job;
}

double WaitDone(const std::shared_ptr<Job>& job) {
  std::unique_lock<std::mutex> lock(g->mu);
  g->cv.wait(lock, [&] { return job->done; });
  for (auto it = g->all.begin(); it != g->all.end(); ++it) {
    if ((*it)->id == job->id) {
      g->all.erase(it);
      break;
    }
  }
  return job->commSeconds;
}

}  // namespace alexnet_mpi
