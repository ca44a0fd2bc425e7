#include "nnkit/io/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "nnkit/error.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::ScratchDir;

// Runs `f`, which must throw IoError, and returns its message.
template <typename F>
std::string io_error(F f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an IoError";
  return "";
}

void put(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(AtomicFile, WritesAndReadsBackBytesWithNuls) {
  ScratchDir dir;
  const std::string bytes("a\0b\xff\n", 5);
  write_file_atomically(dir.file("x.bin"), bytes);
  EXPECT_EQ(read_file(dir.file("x.bin")), bytes);
  EXPECT_EQ(dir.entry_count(), 1u);  // no temporary left behind
}

TEST(AtomicFile, WritesAnEmptyFile) {
  ScratchDir dir;
  write_file_atomically(dir.file("empty"), "");
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("empty")));
  EXPECT_EQ(read_file(dir.file("empty")), "");
}

TEST(AtomicFile, ReplacesAnExistingFileAndKeepsItsPermissions) {
  ScratchDir dir;
  const std::string path = dir.file("x.bin");
  put(path, "old contents, longer than the new ones");
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write |
                                         std::filesystem::perms::group_read);
  write_file_atomically(path, "new");
  EXPECT_EQ(read_file(path), "new");
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                std::filesystem::perms::group_read);
  EXPECT_EQ(dir.entry_count(), 1u);
}

TEST(AtomicFile, MissingDirectoryThrowsAndCreatesNothing) {
  ScratchDir dir;
  const std::string path = dir.file("no/such/dir/x.npy");
  const std::string message = io_error([&] { write_file_atomically(path, "bytes"); });
  EXPECT_NE(message.find("cannot write '" + path + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(dir.entry_count(), 0u);
}

TEST(AtomicFile, TargetThatIsADirectoryIsLeftAloneAndNoTemporaryRemains) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  std::filesystem::create_directory(path);
  put(dir.file("model.safetensors/inside"), "keep me");
  const std::string message = io_error([&] { write_file_atomically(path, "bytes"); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_EQ(read_file(dir.file("model.safetensors/inside")), "keep me");
  EXPECT_EQ(dir.entry_count(), 1u);  // only the directory itself
}

TEST(AtomicFile, PathEndingInASlashIsRefused) {
  ScratchDir dir;
  const std::string path = dir.file("out") + "/";
  const std::string message = io_error([&] { write_file_atomically(path, "bytes"); });
  EXPECT_NE(message.find("Is a directory"), std::string::npos) << message;
  EXPECT_EQ(dir.entry_count(), 0u);
}

// A write that fails halfway (here: the file size limit, which binds root too) must leave the
// old file exactly as it was and remove the partial temporary file.
TEST(AtomicFile, FailedWriteLeavesTheOldFileIntact) {
  ScratchDir dir;
  const std::string path = dir.file("x.bin");
  put(path, "old");

  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string message =
      io_error([&] { write_file_atomically(path, std::string(1 << 20, 'x')); });
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_NE(message.find("cannot write '" + path + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("too large"), std::string::npos) << message;  // EFBIG
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(dir.entry_count(), 1u);
}

TEST(AtomicFile, ReadingAMissingFileNamesIt) {
  ScratchDir dir;
  const std::string path = dir.file("x.npy");
  const std::string message = io_error([&] { read_file(path); });
  EXPECT_EQ(message, "cannot open '" + path + "': No such file or directory");
}

TEST(AtomicFile, ReadingADirectoryIsAnError) {
  ScratchDir dir;
  const std::string message = io_error([&] { read_file(dir.path().string()); });
  EXPECT_NE(message.find("Is a directory"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.path().string()), std::string::npos) << message;
}

TEST(AtomicFile, ReadsALargeFileWhole) {
  ScratchDir dir;
  std::string bytes(300000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 % 251);
  put(dir.file("big"), bytes);
  EXPECT_EQ(read_file(dir.file("big")), bytes);
}

}  // namespace
}  // namespace nnkit
