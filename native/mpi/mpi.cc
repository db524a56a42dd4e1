// alexnet_mpi.node: the optional Open MPI addon behind `alexnet train --distributed`. It is a separate
// library from alexnet_native.node so that the single-process path never loads libmpi.
//
// One communication thread owns MPI (it calls MPI_Init_thread and every MPI function after it, so
// MPI_THREAD_FUNNELED suffices): JavaScript queues jobs (allreduce a Float32Array in place, sum a few
// float64 metrics, allgather strings, barrier) and later waits for them, so gradient buckets are reduced
// while backward still computes the layers below them. The same thread is the fault detector: between
// MPI_Test polls it looks at a TCP liveness link to every peer (liveness.h: closed when the peer's process
// ends, on any host), sends a heartbeat (its collective counter) to every peer, reads theirs, and checks
// the pids of peers on its own host. A peer that died, stopped sending heartbeats, or did not reach a
// collective within the timeout ends this process with one line naming that rank and its host (see
// Diagnose), without waiting for JavaScript, which may be blocked in Wait.
//
// This file is the N-API surface; the communication thread and the fault detector are in comm.cc, the
// liveness links in liveness.cc.
#include <napi.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "comm.h"

namespace {

using namespace alexnet_mpi;

void RequireInit(const Napi::Env& env) {
  if (!g || !g->initError.empty() || g->stop) throw Napi::Error::New(env, "MPI is not initialised (call Init first)");
}

// Keeps each queued buffer's ArrayBuffer alive until its job has been waited for.
std::vector<std::pair<int64_t, Napi::Reference<Napi::Value>>> held;

// Init(timeoutSeconds) -> { rank, size, host, links } (links: peers with a liveness link)
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g) throw Napi::Error::New(env, "MPI is already initialised");
  double timeout = info[0].As<Napi::Number>().DoubleValue();
  // Open MPI's daemons end a job's ranks with SIGCONT, SIGTERM and SIGKILL a second apart; SIGCONT tells
  // the fault detector to name a peer that went silent before the others are gone. Node does not use it.
  struct sigaction sa {};
  sa.sa_handler = OnContinued;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCONT, &sa, nullptr);
  g = new State();
  commThread = new std::thread(CommMain, timeout > 0 ? timeout : 30.0);
  std::unique_lock<std::mutex> lock(g->mu);
  g->cv.wait(lock, [] { return g->initDone; });
  if (!g->initError.empty()) throw Napi::Error::New(env, g->initError);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rank", g->rank);
  out.Set("size", g->size);
  out.Set("host", g->host);
  out.Set("links", g->liveness.Links());
  return out;
}

// SetPeerPids(pids): the pid of each rank on this host, -1 elsewhere (from the start-up allgather).
Napi::Value SetPeerPids(const Napi::CallbackInfo& info) {
  RequireInit(info.Env());
  Napi::Array pids = info[0].As<Napi::Array>();
  std::lock_guard<std::mutex> lock(g->mu);
  for (uint32_t p = 0; p < pids.Length() && p < g->peers.size(); p++) {
    g->peers[p].pid = pids.Get(p).As<Napi::Number>().Int32Value();
  }
  return info.Env().Undefined();
}

// AllreduceAsync(array: Float32Array | Float64Array, scale, what) -> id. Sums in place across ranks after
// multiplying by scale (float32 only).
Napi::Value AllreduceAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
  auto job = std::make_shared<Job>();
  if (arr.TypedArrayType() == napi_float32_array) {
    job->kind = Kind::kAllreduceF32;
    job->data = arr.As<Napi::Float32Array>().Data();
  } else if (arr.TypedArrayType() == napi_float64_array) {
    job->kind = Kind::kAllreduceF64;
    job->data = arr.As<Napi::Float64Array>().Data();
  } else {
    throw Napi::TypeError::New(env, "AllreduceAsync takes a Float32Array or Float64Array");
  }
  if (arr.ElementLength() > static_cast<size_t>(INT32_MAX)) throw Napi::RangeError::New(env, "buffer too large for one allreduce");
  job->count = static_cast<int64_t>(arr.ElementLength());
  job->scale = info[1].As<Napi::Number>().DoubleValue();
  job->what = job->kind == Kind::kAllreduceF32 ? "gradient allreduce" : "metric allreduce";
  Enqueue(job);
  held.emplace_back(job->id, Napi::Persistent(info[0]));
  return Napi::Number::New(env, static_cast<double>(job->id));
}

std::shared_ptr<Job> Find(int64_t id) {
  for (auto& j : g->all) if (j->id == id) return j;
  return nullptr;
}

// Wait(id) -> seconds the communication took on the comm thread. Blocks this (JavaScript) thread; the
// comm thread ends the process if a peer is lost, so this never waits forever.
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  int64_t id = static_cast<int64_t>(info[0].As<Napi::Number>().DoubleValue());
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(g->mu);
    job = Find(id);
  }
  if (!job) throw Napi::Error::New(env, "Wait: unknown or already-waited job id");
  double seconds = WaitDone(job);
  for (auto it = held.begin(); it != held.end(); ++it) {
    if (it->first == id) {
      held.erase(it);
      break;
    }
  }
  return Napi::Number::New(env, seconds);
}

// Allgather(text) -> string[] (blocking): every rank's string, by rank.
Napi::Value Allgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  auto job = std::make_shared<Job>();
  job->kind = Kind::kAllgather;
  job->text = info[0].As<Napi::String>().Utf8Value();
  job->what = info.Length() > 1 ? "start-up allgather" : "allgather";
  Enqueue(job);
  WaitDone(job);
  Napi::Array out = Napi::Array::New(env, job->gathered.size());
  for (size_t p = 0; p < job->gathered.size(); p++) out.Set(static_cast<uint32_t>(p), job->gathered[p]);
  return out;
}

// Finalize(): a last barrier (every rank got here, so peers may exit from now on), then MPI_Finalize.
// Not WaitDone: the fault detector must stop watching in the same lock that sees the barrier done.
Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g || g->stop) return env.Undefined();
  auto job = std::make_shared<Job>();
  job->kind = Kind::kBarrier;
  job->what = "final barrier";
  Enqueue(job);
  {
    std::unique_lock<std::mutex> lock(g->mu);
    g->cv.wait(lock, [&] { return job->done; });
    g->watching = false;
    g->stop = true;
  }
  g->cv.notify_all();
  commThread->join();
  return env.Undefined();
}

// Exit(code, line): writes the line and ends the process at once (a rank that must stop while others
// may still wait in a collective: exit() would run destructors against the live comm thread).
Napi::Value Exit(const Napi::CallbackInfo& info) {
  std::string line = info.Length() > 1 ? info[1].As<Napi::String>().Utf8Value() + "\n" : "";
  ssize_t ignored = write(2, line.data(), line.size());
  (void)ignored;
  _exit(info[0].As<Napi::Number>().Int32Value());
}

Napi::Value CommSeconds(const Napi::CallbackInfo& info) {
  if (!g) return Napi::Number::New(info.Env(), 0);
  std::lock_guard<std::mutex> lock(g->mu);
  return Napi::Number::New(info.Env(), g->commSecondsTotal);
}

Napi::Object Initialize(Napi::Env env, Napi::Object exports) {
  exports.Set("Init", Napi::Function::New(env, Init));
  exports.Set("SetPeerPids", Napi::Function::New(env, SetPeerPids));
  exports.Set("AllreduceAsync", Napi::Function::New(env, AllreduceAsync));
  exports.Set("Wait", Napi::Function::New(env, Wait));
  exports.Set("Allgather", Napi::Function::New(env, Allgather));
  exports.Set("Finalize", Napi::Function::New(env, Finalize));
  exports.Set("Exit", Napi::Function::New(env, Exit));
  exports.Set("CommSeconds", Napi::Function::New(env, CommSeconds));
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  exports.Set("version", Napi::String::New(env, std::string(version, len)));
  return exports;
}

}  // namespace

NODE_API_MODULE(alexnet_mpi, Initialize)
