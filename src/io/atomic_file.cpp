#include "nnkit/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

// strerror() is not thread-safe; the generic category gives the same text.
std::string errno_message(int error) { return std::generic_category().message(error); }

// Closes a descriptor on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports close()'s errno (0 on success): NFS reports write errors there.
  int close() {
    int error = 0;
    if (::close(fd_) != 0) error = errno;
    fd_ = -1;
    return error;
  }

 private:
  int fd_;
};

// A name beside `path` that no other writer (thread or process) picks at the same time:
// "dir/.name.tmp.<pid>.<counter>.<clock>". O_EXCL turns any remaining clash into a retry.
std::string temporary_name(const std::filesystem::path& path) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  const std::string file = fmt::format(".{}.tmp.{}.{}.{:x}", path.filename().string(),
                                       static_cast<long>(::getpid()), n, ticks);
  return (path.parent_path() / file).string();
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

// Makes the rename itself durable. Best effort: some file systems refuse fsync on a directory.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::filesystem::path target(path);
  auto fail = [&](int error) -> IoError {
    return IoError(fmt::format("cannot write '{}': {}", path, errno_message(error)));
  };
  if (target.filename().empty()) throw fail(EISDIR);  // "out/" names no file

  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = temporary_name(target);
    // 0666 before the umask, as for any new file.
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw fail(errno);
  Fd file(fd);

  auto fail_and_remove = [&](int error) -> IoError {
    ::unlink(temp.c_str());
    return fail(error);
  };
  // Replacing a file keeps its permissions.
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode)) {
    ::fchmod(file.get(), old.st_mode & 07777);
  }
  if (!write_all(file.get(), bytes.data(), bytes.size())) throw fail_and_remove(errno);
  // The data must be on disk before the rename makes it visible under the target's name.
  if (::fsync(file.get()) != 0) throw fail_and_remove(errno);
  if (const int error = file.close(); error != 0) throw fail_and_remove(error);
  if (::rename(temp.c_str(), path.c_str()) != 0) throw fail_and_remove(errno);
  sync_directory(target.parent_path());
}

std::string read_file(const std::string& path) {
  Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    throw IoError(fmt::format("cannot open '{}': {}", path, errno_message(errno)));
  }
  auto fail = [&](int error) -> IoError {
    return IoError(fmt::format("cannot read '{}': {}", path, errno_message(error)));
  };
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) throw fail(errno);
  if (S_ISDIR(info.st_mode)) throw fail(EISDIR);

  // st_size is only a hint (pipes, files growing meanwhile): read until end of file.
  std::string bytes;
  if (S_ISREG(info.st_mode)) bytes.reserve(static_cast<std::size_t>(info.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw fail(errno);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  return bytes;
}

}  // namespace nnkit
