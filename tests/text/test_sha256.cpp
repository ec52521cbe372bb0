#include "text/sha256.h"

#include <gtest/gtest.h>

namespace hone {
namespace {

// FIPS 180-4 example vectors (NIST CSRC "Examples with Intermediate Values", SHA-256).
TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, MillionAInPiecesOfEveryAlignment) {
  // The third FIPS example: one million 'a'. Fed in uneven chunks to exercise the block buffer.
  Sha256 h;
  const std::string chunk(997, 'a');
  std::size_t left = 1000000;
  for (std::size_t k = 1; left > 0; k = k % 97 + 1) {
    const std::size_t n = std::min({left, k * 7, chunk.size()});
    h.update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace hone
