// Liveness links (see liveness.h): set up once at start-up by the communication thread, polled by it
// before every MPI progress call.
#include "liveness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace alexnet_mpi {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kMagic = 0x414c584c;  // "ALXL"

struct Hello {
  uint32_t magic;
  uint32_t rank;
  uint64_t nonce;
};
static_assert(sizeof(Hello) == 16, "the handshake is 16 bytes");

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Whether the interface (name, IPv4 address in network order) matches one entry of an Open MPI interface
// list: an interface name or a CIDR subnet.
bool Matches(const std::string& list, const char* name, in_addr_t addr) {
  for (const std::string& entry : Split(list, ',')) {
    size_t slash = entry.find('/');
    if (slash == std::string::npos) {
      if (entry == name) return true;
      continue;
    }
    in_addr net{};
    if (inet_pton(AF_INET, entry.substr(0, slash).c_str(), &net) != 1) continue;
    int bits = std::atoi(entry.c_str() + slash + 1);
    uint32_t mask = bits <= 0 ? 0 : bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1);
    if ((ntohl(addr) & mask) == (ntohl(net.s_addr) & mask)) return true;
  }
  return false;
}

int NonBlockingSocket() {
  return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

Liveness::~Liveness() { Close(); }

bool Liveness::Listen() {
  listenFd_ = NonBlockingSocket();
  if (listenFd_ < 0) return false;
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  sa.sin_port = 0;
  socklen_t len = sizeof(sa);
  if (bind(listenFd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(listenFd_, 1024) != 0 ||
      getsockname(listenFd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    close(listenFd_);
    listenFd_ = -1;
    return false;
  }
  port_ = ntohs(sa.sin_port);
  return true;
}

std::string Liveness::Card() const {
  std::string include = getenv("OMPI_MCA_btl_tcp_if_include") ? getenv("OMPI_MCA_btl_tcp_if_include") : "";
  std::string exclude = getenv("OMPI_MCA_btl_tcp_if_exclude") ? getenv("OMPI_MCA_btl_tcp_if_exclude") : "";
  std::vector<std::string> addrs;
  ifaddrs* list = nullptr;
  if (listenFd_ >= 0 && getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
      in_addr_t a = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
      if (!include.empty() ? !Matches(include, i->ifa_name, a) : (!exclude.empty() && Matches(exclude, i->ifa_name, a))) continue;
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &a, text, sizeof(text));
      bool seen = false;
      for (auto& s : addrs) seen = seen || s == text;
      if (!seen) addrs.push_back(text);
    }
    freeifaddrs(list);
  }
  addrs.push_back("127.0.0.1");
  std::string card = std::to_string(listenFd_ >= 0 ? port_ : 0) + " ";
  for (size_t k = 0; k < addrs.size(); k++) card += (k ? "," : "") + addrs[k];
  return card;
}

void Liveness::Connect(int rank, const std::vector<std::string>& cards, uint64_t nonce, double seconds) {
  const int size = static_cast<int>(cards.size());
  fds_.assign(size, -1);
  if (listenFd_ < 0) return;
  struct Out {
    int port = 0;
    std::vector<std::string> addrs;
    size_t next = 0;
    int fd = -1;
    int phase = 0;  // 0: start the next address, 1: connecting, 2: waiting for the answer, 3: finished
    Clock::time_point since;
    Hello got{};
    size_t have = 0;
  };
  struct In {
    int fd;
    Hello got{};
    size_t have = 0;
  };
  std::vector<Out> out(rank);
  for (int p = 0; p < rank; p++) {
    std::vector<std::string> parts = Split(cards[p], ' ');
    out[p].port = parts.empty() ? 0 : std::atoi(parts[0].c_str());
    if (parts.size() > 1) out[p].addrs = Split(parts[1], ',');
    if (out[p].port <= 0) out[p].phase = 3;
  }
  std::vector<In> pending;
  int inboundLeft = size - 1 - rank;
  const Hello mine{kMagic, static_cast<uint32_t>(rank), nonce};
  auto fail = [](Out& o) {
    if (o.fd >= 0) close(o.fd);
    o.fd = -1;
    o.phase = 0;
    o.have = 0;
  };
  auto start = Clock::now();
  for (;;) {
    bool outboundLeft = false;
    for (Out& o : out) {
      while (o.phase == 0) {
        if (o.next >= o.addrs.size()) {
          o.phase = 3;
          break;
        }
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<uint16_t>(o.port));
        if (inet_pton(AF_INET, o.addrs[o.next++].c_str(), &sa.sin_addr) != 1) continue;
        o.fd = NonBlockingSocket();
        if (o.fd < 0) continue;
        if (connect(o.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 || errno == EINPROGRESS) {
          o.phase = 1;
          o.since = Clock::now();
        } else {
          fail(o);
        }
      }
      // An address that neither refuses nor answers (filtered) gets 2 s before the next is tried.
      if ((o.phase == 1 || o.phase == 2) && Since(o.since) > 2.0) fail(o);
      outboundLeft = outboundLeft || o.phase != 3;
    }
    if ((!outboundLeft && inboundLeft <= 0) || Since(start) > seconds) break;

    std::vector<pollfd> pfds;
    std::vector<std::pair<int, int>> who;  // (kind 0 listen / 1 out / 2 in, index)
    if (inboundLeft > 0) {
      pfds.push_back({listenFd_, POLLIN, 0});
      who.push_back({0, 0});
    }
    for (int p = 0; p < rank; p++) {
      if (out[p].phase == 1 || out[p].phase == 2) {
        pfds.push_back({out[p].fd, static_cast<short>(out[p].phase == 1 ? POLLOUT : POLLIN), 0});
        who.push_back({1, p});
      }
    }
    for (size_t k = 0; k < pending.size(); k++) {
      pfds.push_back({pending[k].fd, POLLIN, 0});
      who.push_back({2, static_cast<int>(k)});
    }
    if (poll(pfds.data(), pfds.size(), 50) <= 0) continue;
    std::vector<size_t> finishedIn;
    for (size_t k = 0; k < pfds.size(); k++) {
      if (!pfds[k].revents) continue;
      auto [kind, index] = who[k];
      if (kind == 0) {
        for (int fd; (fd = accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) pending.push_back({fd});
      } else if (kind == 1) {
        Out& o = out[index];
        if (o.phase == 1) {
          int err = 0;
          socklen_t len = sizeof(err);
          getsockopt(o.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0 || write(o.fd, &mine, sizeof(mine)) != static_cast<ssize_t>(sizeof(mine))) {
            fail(o);
          } else {
            o.phase = 2;
          }
        } else {
          ssize_t n = read(o.fd, reinterpret_cast<char*>(&o.got) + o.have, sizeof(Hello) - o.have);
          if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) fail(o);
          } else if ((o.have += n) == sizeof(Hello)) {
            if (o.got.magic == kMagic && o.got.nonce == nonce && o.got.rank == static_cast<uint32_t>(index)) {
              fds_[index] = o.fd;
              o.fd = -1;
              o.phase = 3;
            } else {
              fail(o);
            }
          }
        }
      } else {
        In& in = pending[index];
        ssize_t n = read(in.fd, reinterpret_cast<char*>(&in.got) + in.have, sizeof(Hello) - in.have);
        if (n <= 0) {
          if (n == 0 || (errno != EAGAIN && errno != EINTR)) finishedIn.push_back(index);
          continue;
        }
        if ((in.have += n) < sizeof(Hello)) continue;
        int from = static_cast<int>(in.got.rank);
        if (in.got.magic == kMagic && in.got.nonce == nonce && from > rank && from < size && fds_[from] < 0 &&
            write(in.fd, &mine, sizeof(mine)) == static_cast<ssize_t>(sizeof(mine))) {
          fds_[from] = in.fd;
          in.fd = -1;
          inboundLeft--;
        }
        finishedIn.push_back(index);
      }
    }
    for (auto it = finishedIn.rbegin(); it != finishedIn.rend(); ++it) {
      if (pending[*it].fd >= 0) close(pending[*it].fd);
      pending.erase(pending.begin() + static_cast<long>(*it));
    }
  }
  for (Out& o : out) fail(o);
  for (In& in : pending) close(in.fd);
  close(listenFd_);
  listenFd_ = -1;
  for (int p = 0; p < size; p++) {
    if (fds_[p] < 0) continue;
    polled_.push_back({fds_[p], static_cast<short>(POLLIN | POLLRDHUP), 0});
    polledRank_.push_back(p);
  }
}

int Liveness::Gone() {
  if (polled_.empty()) return -1;
  for (pollfd& p : polled_) p.revents = 0;
  if (poll(polled_.data(), polled_.size(), 0) <= 0) return -1;
  for (size_t k = 0; k < polled_.size(); k++) {
    if (!polled_[k].revents) continue;
    // Nothing is sent after the handshake: anything readable is the end (EOF) or a reset.
    char c;
    ssize_t n = recv(polled_[k].fd, &c, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || (polled_[k].revents & (POLLHUP | POLLERR | POLLRDHUP))) return polledRank_[k];
  }
  return -1;
}

int Liveness::Links() const {
  int n = 0;
  for (int fd : fds_) n += fd >= 0;
  return n;
}

void Liveness::Close() {
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  polled_.clear();
  polledRank_.clear();
  if (listenFd_ >= 0) close(listenFd_);
  listenFd_ = -1;
}

}  // namespace alexnet_mpi
