// alexnet_mpi.node's communication thread: it owns MPI (every MPI call after MPI_Init_thread is made here,
// so MPI_THREAD_FUNNELED suffices), runs the queued collectives with nonblocking calls and MPI_Test polls,
// and between polls is the fault detector: heartbeats to and from every peer, the pids of peers on this
// host, and the collective timeout. A lost peer ends the process with one line naming it (Diagnose).
#include "comm.h"

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace alexnet_mpi {

State* g = nullptr;
std::thread* commThread = nullptr;
constexpr int kBeatTag = 17;

[[noreturn]] void Fatal(const std::string& line) {
  std::string msg = line + "\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
  // _exit: JavaScript may be blocked in Wait and MPI in an unfinishable collective; exit() would run
  // destructors that join this very thread or call into MPI.
  _exit(1);
}

std::string Prefix() {
  return "alexnet: rank " + std::to_string(g->rank) + " of " + std::to_string(g->size) + ": ";
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

// Which peer is lost, in order of certainty: one on this host whose process is gone, one whose heartbeats
// stopped (dead or stopped elsewhere), one that has not started the collective we wait in (alive but stuck
// before it). Returns "" when every peer looks healthy.
std::string Diagnose(bool inCollective, const char* what, double waited) {
  for (int p = 0; p < g->size; p++) {
    if (p != g->rank && PidGone(g->peers[p].pid)) {
      return "lost rank " + std::to_string(p) + " (its process, pid " + std::to_string(g->peers[p].pid) + " on " + g->host +
             ", is gone); stopping";
    }
  }
  double silentLimit = g->timeoutSeconds;
  for (int p = 0; p < g->size; p++) {
    if (p == g->rank) continue;
    double silent = Seconds(g->peers[p].lastBeat);
    if (silent > silentLimit) {
      return "lost rank " + std::to_string(p) + " (no heartbeat for " + std::to_string(static_cast<int>(silent)) + " s); stopping";
    }
  }
  if (inCollective && waited > g->timeoutSeconds) {
    int64_t mine = g->started.load();
    for (int p = 0; p < g->size; p++) {
      if (p != g->rank && g->peers[p].counter < mine) {
        return "lost rank " + std::to_string(p) + " (alive but it did not reach " + what + " #" + std::to_string(mine) + " within " +
               std::to_string(static_cast<int>(g->timeoutSeconds)) + " s); stopping";
      }
    }
    return std::string(what) + " #" + std::to_string(mine) + " did not finish within " + std::to_string(static_cast<int>(g->timeoutSeconds)) +
           " s (no rank identified as lost); stopping";
  }
  return "";
}

Clock::time_point lastSent;

// One round of fault detection: the line naming a lost peer, or "".
std::string Watch(bool inCollective, const char* what, double waited) {
  if (g->size > 1 && Seconds(lastSent) >= g->heartbeatSeconds) {
    SendBeats();
    lastSent = Clock::now();
  }
  ReadBeats();
  if (!g->watching) return "";
  // Polls come every 0.5 ms; looking at /proc that often would only cost CPU the computation needs.
  static Clock::time_point lastLook;
  if (Seconds(lastLook) < 0.05 && waited <= g->timeoutSeconds) return "";
  lastLook = Clock::now();
  return Diagnose(inCollective, what, waited);
}

void Complete(MPI_Request* req, const char* what) {
  auto start = Clock::now();
  int usec = 20;
  for (;;) {
    int flag = 0;
    int rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      char err[MPI_MAX_ERROR_STRING];
      int len = 0;
      MPI_Error_string(rc, err, &len);
      std::string lost = Watch(true, what, 1e30);  // names the lost rank when it can
      Fatal(Prefix() + (lost.empty() ? std::string(what) + " failed: " + std::string(err, len) : lost));
    }
    if (flag) return;
    std::string lost = Watch(true, what, Seconds(start));
    if (!lost.empty()) {
      // A peer may finish a collective and exit before we see it complete: its data has arrived by then.
      MPI_Test(req, &flag, MPI_STATUS_IGNORE);
      if (flag) return;
      Fatal(Prefix() + lost);
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

void CommMain(double timeoutSeconds) {
  // Node loads addons RTLD_LOCAL; Open MPI's plugins (dlopen'ed by libmpi) need libmpi's symbols global.
  if (!dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  int provided = 0;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  {
    std::lock_guard<std::mutex> lock(g->mu);
    if (rc != MPI_SUCCESS) {
      g->initError = "MPI_Init_thread failed";
    } else {
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
      g->peers.assign(g->size, Peer{Clock::now(), 0, -1});
    }
    g->initDone = true;
  }
  g->cv.notify_all();
  if (rc != MPI_SUCCESS) return;
  lastSent = Clock::now() - std::chrono::hours(1);
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(g->mu);
      g->cv.wait_for(lock, std::chrono::milliseconds(100), [] { return g->stop || !g->queue.empty(); });
      if (!g->queue.empty()) {
        job = g->queue.front();
        g->queue.pop_front();
      } else if (g->stop) {
        break;
      }
    }
    if (!job) {
      std::string lost = Watch(false, "", 0);
      if (!lost.empty()) Fatal(Prefix() + lost);
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
