// The communication thread of alexnet_mpi.node (see mpi.cc for the whole design): the jobs JavaScript
// queues, the state shared with the N-API functions, and the thread's entry points. Everything in it that
// is not atomic is guarded by State::mu, except what only the communication thread touches after Init
// (peers' beats, hosts, the liveness links).
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "liveness.h"

namespace alexnet_mpi {

using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

enum class Kind { kAllreduceF32, kAllreduceF64, kAllgather, kBarrier };

struct Job {
  int64_t id = 0;
  Kind kind = Kind::kBarrier;
  void* data = nullptr;
  int64_t count = 0;
  double scale = 1.0;
  std::string text;                 // kAllgather: this rank's string
  std::vector<std::string> gathered;  // kAllgather: every rank's, by rank
  const char* what = "barrier";
  bool done = false;
  double commSeconds = 0;  // from the comm thread's start of the job to its end
};

struct Peer {
  Clock::time_point lastBeat;
  int64_t counter = 0;  // collectives the peer has started
  int pid = -1;         // -1: not on this host (or not known yet)
  std::string host;     // its MPI processor name
};

struct State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> queue;
  std::vector<std::shared_ptr<Job>> all;  // queued or running or finished-not-waited, by id order
  bool initDone = false;
  std::string initError;
  bool stop = false;
  int rank = -1, size = 0;
  std::string host;
  double timeoutSeconds = 30;
  double heartbeatSeconds = 1;
  std::vector<Peer> peers;
  std::atomic<int64_t> started{0};  // collectives this rank has started
  bool watching = true;             // false once the final barrier passed: peers may exit now
  MPI_Comm data = MPI_COMM_NULL, beat = MPI_COMM_NULL;
  Liveness liveness;
  // Open MPI's out-of-band keepalive (seconds), as passed to mpirun: how long after a host stops answering
  // Open MPI's own daemons give up on it and end the job (see Hold in comm.cc).
  double keepaliveTime = 300, keepaliveIntvl = 20, keepaliveProbes = 9;
  int64_t nextId = 1;
  double commSecondsTotal = 0;
};

extern State* g;
extern std::thread* commThread;

/** Writes the line to stderr and ends the process at once (no destructors, no MPI); with holdSeconds, the
 * process first waits that long (for Open MPI to end the job, see Hold in comm.cc). */
[[noreturn]] void Fatal(const std::string& line, double holdSeconds = 0);
/** SIGCONT's handler: Open MPI's daemons send SIGCONT, then SIGTERM and SIGKILL a second apart, to the
 * ranks of a job they end. */
void OnContinued(int);
/** The comm thread: MPI_Init_thread, then jobs and fault detection until State::stop. */
void CommMain(double timeoutSeconds);
/** Queues a job for the comm thread and gives it its id. */
std::shared_ptr<Job> Enqueue(std::shared_ptr<Job> job);
/** Blocks until the job is done, forgets it, and returns its seconds on the comm thread. */
double WaitDone(const std::shared_ptr<Job>& job);

}  // namespace alexnet_mpi
