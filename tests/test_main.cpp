#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "helpers.h"

extern char** environ;

namespace hone::test {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("hone-test-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(counter++) + "-" + std::to_string(rd() % 100000));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(path_)) names.push_back(fs::relative(e.path(), path_).string());
  std::sort(names.begin(), names.end());
  return names;
}

namespace {
std::string drain(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return s;
}
}  // namespace

CommandResult run_command(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CommandResult r;
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    r.err = "spawn failed: " + argv[0];
    return r;
  }
  std::string err;
  std::thread t([&] { err = drain(err_pipe[0]); });
  r.out = drain(out_pipe[0]);
  t.join();
  r.err = std::move(err);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandResult run_hone(const std::vector<std::string>& args) {
  std::vector<std::string> argv{HONE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

CommandResult run_hone_limited(int kib, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/bin/bash", "-c", "ulimit -f " + std::to_string(kib) + " && exec \"$0\" \"$@\"",
                                HONE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

CommandResult run_python(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{HONE_PYTHON, std::string(HONE_TEST_SCRIPTS) + "/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

bool have_python() { return fs::exists(HONE_PYTHON); }
bool have_model() { return fs::exists(HONE_MODEL_GGUF); }
std::string model_path() { return HONE_MODEL_GGUF; }

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(read_bytes(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace hone::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  hone::init_logging({/*verbosity=*/-1, hone::LogFormat::kText});
  return RUN_ALL_TESTS();
}
