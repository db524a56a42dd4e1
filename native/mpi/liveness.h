// Liveness links of alexnet_mpi.node: one TCP connection between every pair of ranks, outside MPI, on which
// nothing is ever sent after the handshake. When a peer's process ends, for whatever reason and on whatever
// host, its kernel closes the connection and this end reads EOF (or a reset) at once: the one certain sign
// that the peer is gone, seen before MPI's own TCP connections are touched again (a send to a dead peer is
// where Open MPI prints its warnings and ends the job). A host that stops answering closes nothing; that is
// the heartbeats' case (comm.cc). A pair that cannot connect (a firewall, no common network) simply has no
// link and relies on the heartbeats.
#pragma once

#include <poll.h>

#include <cstdint>
#include <string>
#include <vector>

namespace alexnet_mpi {

class Liveness {
 public:
  ~Liveness();
  /** Opens the listening socket; false (and no links later) if that fails. */
  bool Listen();
  /** This rank's card for the others: "port addr,addr,...". Addresses are this host's IPv4 addresses that
   * are up, restricted like Open MPI's TCP transport (btl_tcp_if_include / _exclude: interface names or
   * CIDR subnets), then 127.0.0.1 for peers on the same host. */
  std::string Card() const;
  /** Connects every pair within `seconds`: rank r connects to the ranks below it (trying each address of
   * their cards in turn) and accepts the ranks above it. Both ends check a handshake carrying the job's
   * nonce and the ranks, so an address that reaches some other process is skipped. */
  void Connect(int rank, const std::vector<std::string>& cards, uint64_t nonce, double seconds);
  /** The first peer whose link was closed or reset, or -1. Never blocks. */
  int Gone();
  /** Peers with a link. */
  int Links() const;
  void Close();

 private:
  int listenFd_ = -1;
  int port_ = 0;
  std::vector<int> fds_;  // by rank; -1: no link
  std::vector<pollfd> polled_;
  std::vector<int> polledRank_;
};

}  // namespace alexnet_mpi
