#include "core/fs.h"

#include "helpers.h"

namespace hone {
namespace {

using test::TempDir;

TEST(AtomicFile, CommitPublishesTheWholeFile) {
  TempDir dir;
  {
    AtomicFile f(dir / "sub/out.bin");
    f.write("hello");
    f.pad_to(8, '.');
    EXPECT_EQ(f.bytes_written(), 8u);
    EXPECT_FALSE(fs::exists(dir / "sub/out.bin")) << "visible before commit";
    f.commit();
  }
  EXPECT_EQ(test::read_bytes(dir / "sub/out.bin"), "hello...");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"sub", "sub/out.bin"}));
}

TEST(AtomicFile, AbandonedWriteLeavesNothingAndKeepsTheOldFile) {
  TempDir dir;
  write_file_atomic(dir / "out.txt", "old");
  try {
    AtomicFile f(dir / "out.txt");
    f.write("new partial content");
    throw std::runtime_error("failure in the middle of writing");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(test::read_bytes(dir / "out.txt"), "old");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"out.txt"})) << "temporary file left behind";
}

TEST(MappedFile, MapsContentAndRejectsMissingOrDirectories) {
  TempDir dir;
  test::write_bytes(dir / "a.bin", "abcdef");
  auto m = MappedFile::open(dir / "a.bin");
  ASSERT_EQ(m->size(), 6u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m->data()), 6), "abcdef");
  EXPECT_HONE_ERROR(MappedFile::open(dir / "missing.bin"), InputError, "missing.bin: cannot open");
  EXPECT_HONE_ERROR(MappedFile::open(dir.path()), InputError, "not a regular file");
  EXPECT_HONE_ERROR(read_file(dir / "nope.json"), InputError, "nope.json: cannot open");
}

}  // namespace
}  // namespace hone
