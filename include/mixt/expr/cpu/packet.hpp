// SIMD packets for the CPU evaluator, written with GCC/Clang vector extensions so that the same code compiles to
// SSE2 or AVX2 as the target allows. float and double get packets of 16 or 32 bytes; every other type is
// evaluated one element at a time (packet<T>::size == 1 and the "packet" is the scalar itself).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../core/half.hpp"

namespace mixt::pk {

template <class T>
struct packet {
  using type = T;
  static constexpr int size = 1;
};
/// Packet width: one register of the widest vector unit the target has (AVX-512, AVX, else SSE; a packet wider
/// than the target's registers would change the ABI of the functions that pass them, and the compiler warns).
/// AVX-512 packets, as Eigen uses, let one thread keep more memory reads in flight: the 1-thread sum over
/// 2^24 floats went from about 0.85x Eigen's speed with AVX packets to par.
#if defined(__AVX512F__)
inline constexpr int kPacketBytes = 64;
#elif defined(__AVX__)
inline constexpr int kPacketBytes = 32;
#else
inline constexpr int kPacketBytes = 16;
#endif

template <>
struct packet<float> {
  typedef float type __attribute__((vector_size(kPacketBytes)));
  typedef int32_t itype __attribute__((vector_size(kPacketBytes)));
  static constexpr int size = kPacketBytes / 4;
};
template <>
struct packet<double> {
  typedef double type __attribute__((vector_size(kPacketBytes)));
  typedef int64_t itype __attribute__((vector_size(kPacketBytes)));
  static constexpr int size = kPacketBytes / 8;
};

template <class T> using packet_t = typename packet<T>::type;

template <class V> struct is_vector : std::false_type {};
template <> struct is_vector<packet<float>::type> : std::true_type {};
template <> struct is_vector<packet<double>::type> : std::true_type {};
template <class V> inline constexpr bool is_vector_v = is_vector<V>::value;

/// The element type of a packet (the type itself for a scalar).
template <class V> struct element { using type = V; };
template <> struct element<packet<float>::type> { using type = float; };
template <> struct element<packet<double>::type> { using type = double; };
template <class V> using element_t = typename element<V>::type;

/// Loads W consecutive elements stored as S into a packet of compute type E.
template <class E, class S>
MIXT_INLINE packet_t<E> load(const S* p) {
  using V = packet_t<E>;
  if constexpr (packet<E>::size == 1) {
    return static_cast<E>(*p);
  } else if constexpr (std::is_same_v<S, E>) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  } else {
    V v;
    for (int i = 0; i < packet<E>::size; ++i) v[i] = static_cast<E>(p[i]);
    return v;
  }
}

/// Loads W elements at p[0], p[stride], ... (a gather, for transposed or strided leaves).
template <class E, class S>
MIXT_INLINE packet_t<E> load_strided(const S* p, int64_t stride) {
  if constexpr (packet<E>::size == 1) {
    return static_cast<E>(*p);
  } else {
    packet_t<E> v{};  // zeroed: g++ -O1 cannot see that the loop writes every lane
    for (int i = 0; i < packet<E>::size; ++i) v[i] = static_cast<E>(p[i * stride]);
    return v;
  }
}

template <class E>
MIXT_INLINE packet_t<E> splat(E x) {
  if constexpr (packet<E>::size == 1) return x;
  else return x - packet_t<E>{};  // x - 0 keeps -0; 0 + x would make it +0 (1 / -0.0 gave +inf in packets)
}

template <class S, class V>
MIXT_INLINE void store(S* p, const V& v) {
  using E = element_t<V>;
  if constexpr (!is_vector_v<V>) {
    *p = static_cast<S>(v);
  } else if constexpr (std::is_same_v<S, E>) {
    std::memcpy(p, &v, sizeof(V));
  } else {
    for (int i = 0; i < packet<E>::size; ++i) p[i] = static_cast<S>(v[i]);
  }
}

}  // namespace mixt::pk
