// The random-number source: Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011), a counter-based generator. Element i of a random array is a pure function of
// (seed, stream offset + i), so CPU threads and GPU threads fill an array in any order and get the same numbers;
// every call that draws n numbers advances the global stream offset by n. mixt::random::seed(s) resets the seed
// and the offset, as mx.random.seed does.
#pragma once

#include <atomic>
#include <cstdint>

#include "config.hpp"

namespace mixt::random {

/// Four 32-bit words: one Philox block.
struct Block {
  uint32_t w[4];
};

MIXT_HD inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

/// Philox4x32 with 10 rounds: the 128-bit counter ctr enciphered under the 64-bit key.
MIXT_HD inline Block philox4x32_10(Block ctr, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    if (r) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }  // the Weyl key schedule
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, ctr.w[0], hi0, lo0);
    mulhilo(0xCD9E8D57u, ctr.w[2], hi1, lo1);
    ctr = Block{{hi1 ^ ctr.w[1] ^ k0, lo1, hi0 ^ ctr.w[3] ^ k1, lo0}};
  }
  return ctr;
}

/// A stream position: the seed (the key) and the counter of the first number.
struct Stream {
  uint64_t seed = 0;
  uint64_t offset = 0;

  /// The 128 random bits of number i of this stream.
  MIXT_HD Block bits(int64_t i) const {
    uint64_t c = offset + uint64_t(i);
    return philox4x32_10(Block{{uint32_t(c), uint32_t(c >> 32), 0u, 0u}}, uint32_t(seed), uint32_t(seed >> 32));
  }
  /// A double in [0, 1) with 53 random bits, from words w and w+1 of number i's block.
  MIXT_HD static double unit(const Block& b, int w) {
    uint64_t x = (uint64_t(b.w[w]) << 32 | b.w[w + 1]) >> 11;
    return double(x) * (1.0 / 9007199254740992.0);  // 2^-53
  }
};

namespace detail {
struct GlobalState {
  std::atomic<uint64_t> seed{0};
  std::atomic<uint64_t> offset{0};
};
inline GlobalState& global_state() {
  static GlobalState s;
  return s;
}
}  // namespace detail

/// Seeds the generator of every device (mx.random.seed) and restarts its stream.
inline void seed(uint64_t s) {
  detail::global_state().seed.store(s);
  detail::global_state().offset.store(0);
}

/// Reserves n numbers of the global stream: the returned stream's numbers 0..n-1 are used by no other call.
inline Stream take(uint64_t n) {
  auto& g = detail::global_state();
  return Stream{g.seed.load(), g.offset.fetch_add(n)};
}

}  // namespace mixt::random
