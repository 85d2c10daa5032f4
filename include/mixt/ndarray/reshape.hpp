// MXNet's reshape codes (legacy Reshape operator): 0 copies an input dimension, -1 infers one dimension, -2 copies
// all remaining input dimensions, -3 merges two consecutive input dimensions, -4 splits one input dimension into
// the next two values (one of which may be -1). With reverse, the codes are matched from the right (a -4 split
// keeps its two values in reading order, which MXNet leaves undefined).
#pragma once

#include <algorithm>
#include <vector>

#include "../core/shape.hpp"

namespace mixt {

inline Shape infer_reshape(const Shape& in, std::vector<int64_t> codes, bool reverse, const char* op = "reshape") {
  std::vector<int64_t> src(in.begin(), in.end());
  if (reverse) {
    std::reverse(src.begin(), src.end());
    std::reverse(codes.begin(), codes.end());
    // A -4 split reads its two values after it: keep them in order when reversed.
    for (size_t j = 0; j + 2 < codes.size(); ++j)
      if (codes[j + 2] == -4) {  // [d2, d1, -4] -> [-4, d2, d1]
        std::rotate(codes.begin() + j, codes.begin() + j + 2, codes.begin() + j + 3);
        j += 2;
      }
  }
  auto bad = [&](auto... why) {
    detail::fail(op, "cannot reshape an array of shape ", in.to_string(), ": ", why...);
  };
  std::vector<int64_t> out;
  int infer = -1;
  size_t i = 0;
  auto need = [&](size_t k) { if (i + k > src.size()) bad("the codes use more input dimensions than the ", src.size(), " there are"); };
  for (size_t j = 0; j < codes.size(); ++j) {
    int64_t c = codes[j];
    if (c == 0) { need(1); out.push_back(src[i++]); }
    else if (c == -1) {
      if (infer >= 0) bad("more than one -1");
      infer = int(out.size());
      out.push_back(1);
      ++i;
    } else if (c == -2) {
      while (i < src.size()) out.push_back(src[i++]);
    } else if (c == -3) {
      need(2);
      out.push_back(src[i] * src[i + 1]);
      i += 2;
    } else if (c == -4) {
      need(1);
      if (j + 2 >= codes.size()) bad("-4 must be followed by two values");
      int64_t d0 = src[i++], d1 = codes[++j], d2 = codes[++j];
      if (d1 == -1 && d2 == -1) bad("-4 split with two -1");
      if (d1 == -1) d1 = d2 ? d0 / d2 : 0;
      if (d2 == -1) d2 = d1 ? d0 / d1 : 0;
      int64_t product = 0;
      if (d1 < 0 || d2 < 0 || __builtin_mul_overflow(d1, d2, &product) || product != d0)
        bad("-4 cannot split ", d0, " into ", d1, " x ", d2);
      out.push_back(d1);
      out.push_back(d2);
    } else if (c > 0) {
      out.push_back(c);
      ++i;
    } else {
      bad("unknown code ", c);
    }
  }
  if (infer >= 0) {
    int64_t known = 1;
    bool overflow = false;
    for (size_t k = 0; k < out.size(); ++k)
      if (int(k) != infer) overflow = overflow || __builtin_mul_overflow(known, out[k], &known);
    if (overflow || known == 0 || in.size() % known != 0) bad("cannot infer the -1 dimension");
    out[infer] = in.size() / known;
  }
  if (reverse) std::reverse(out.begin(), out.end());
  Shape result(out);
  if (result.size() != in.size())
    bad("the new shape ", result.to_string(), " holds ", result.size(), " elements, the array ", in.size());
  return result;
}

}  // namespace mixt
