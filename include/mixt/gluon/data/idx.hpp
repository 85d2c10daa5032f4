// Reader for IDX files (the MNIST family's format), plain or gzip-compressed. Needs zlib: link with -lz.
//
// IDX: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64),
// the number of dimensions, each dimension as a big-endian uint32, then the values, big-endian, row-major.
// A truncated or malformed file is a mixt::Error naming the file and what was wrong; nothing is half-loaded.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../../mixt.hpp"

namespace mixt::gluon::data {

namespace detail {

/// An open IDX file, inflated as it is read when it starts with the gzip magic (zlib's gz reader reads plain files
/// as they are). Reads only what the header announces, so a file that claims little but holds much (a
/// decompression bomb, /dev/zero) costs no more memory than it claims.
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    if (!f_) mixt::detail::fail("read_idx", "cannot open '", path, "'");
  }
  ~IdxStream() {
    if (f_) gzclose(f_);
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  /// Appends up to n bytes to `to`; returns how many arrived (fewer at the end of the file).
  size_t read(std::vector<uint8_t>& to, size_t n) {
    size_t got = 0;
    while (got < n) {
      const unsigned want = unsigned(std::min<size_t>(n - got, size_t(1) << 20));
      const size_t at = to.size();
      to.resize(at + want);
      const int k = gzread(f_, to.data() + at, want);
      if (k < 0) {
        int err = 0;
        mixt::detail::fail("read_idx", "'", path_, "' is corrupt: ", gzerror(f_, &err));
      }
      to.resize(at + size_t(k));
      got += size_t(k);
      if (k == 0) break;
    }
    return got;
  }
  /// Closes the file, failing when its compressed stream ended early.
  void close() {
    const int rc = gzclose(f_);
    f_ = nullptr;
    if (rc == Z_BUF_ERROR)
      mixt::detail::fail("read_idx", "'", path_, "' is truncated (the compressed stream ends early)");
    if (rc != Z_OK) mixt::detail::fail("read_idx", "'", path_, "' could not be read to the end");
  }

 private:
  std::string path_;
  gzFile f_;
};

inline uint32_t big_endian_u32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

}  // namespace detail

/// The contents of an IDX file: its shape and its values converted to double.
struct IdxData {
  Shape shape;
  std::vector<double> values;
};

inline IdxData read_idx(const std::string& path) {
  detail::IdxStream in(path);
  auto bad = [&](auto... why) { mixt::detail::fail("read_idx", "'", path, "': ", why...); };
  std::vector<uint8_t> b;
  if (const size_t n = in.read(b, 4); n < 4) bad("truncated: ", n, " bytes, shorter than the 4-byte header");
  auto hex = [](unsigned v) {
    char s[8];
    std::snprintf(s, sizeof s, "0x%02X", v);
    return std::string(s);
  };
  if (b[0] != 0 || b[1] != 0) bad("wrong magic number: expected 0x00 0x00 in the first two bytes, received ",
                                  hex(b[0]), " ", hex(b[1]));
  const int type = b[2], ndim = b[3];
  size_t elem = 0;
  switch (type) {
    case 0x08: case 0x09: elem = 1; break;
    case 0x0B: elem = 2; break;
    case 0x0C: case 0x0D: elem = 4; break;
    case 0x0E: elem = 8; break;
    default: bad("unknown element type ", hex(unsigned(type)), " (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)");
  }
  if (ndim < 1 || ndim > kMaxDim) bad(ndim, " dimensions (expected 1 to ", kMaxDim, ")");
  b.clear();
  if (in.read(b, 4 * size_t(ndim)) < 4 * size_t(ndim)) bad("truncated inside the header");
  IdxData out;
  for (int d = 0; d < ndim; ++d) out.shape.push_back(detail::big_endian_u32(&b[4 * size_t(d)]));
  // An NDArray's strides multiply the non-zero extents even when another is 0: they must fit an int64.
  int64_t nonzero = 1;
  for (int d = 0; d < ndim; ++d)
    if (out.shape[d] > 0 && __builtin_mul_overflow(nonzero, out.shape[d], &nonzero))
      bad("shape ", out.shape, " has more elements than an int64 can count");
  const size_t count = size_t(out.shape.size());
  if (count > std::numeric_limits<size_t>::max() / elem)
    bad("shape ", out.shape, " holds more bytes than a size_t counts");
  b.clear();
  if (const size_t n = in.read(b, count * elem); n < count * elem)
    bad("truncated: shape ", out.shape, " needs ", count, " elements of ", elem, " bytes, the file has ", n,
        " bytes of data");
  std::vector<uint8_t> extra;
  if (in.read(extra, 1) != 0) bad("data past the end of the ", count, " elements its shape ", out.shape, " holds");
  in.close();
  out.values.resize(count);
  const uint8_t* p = b.data();
  for (size_t i = 0; i < count; ++i, p += elem) {
    switch (type) {
      case 0x08: out.values[i] = p[0]; break;
      case 0x09: out.values[i] = int8_t(p[0]); break;
      case 0x0B: out.values[i] = int16_t(uint16_t(p[0] << 8 | p[1])); break;
      case 0x0C: out.values[i] = int32_t(detail::big_endian_u32(p)); break;
      case 0x0D: { uint32_t u = detail::big_endian_u32(p); float f; std::memcpy(&f, &u, 4); out.values[i] = f; break; }
      case 0x0E: {
        uint64_t u = uint64_t(detail::big_endian_u32(p)) << 32 | detail::big_endian_u32(p + 4);
        double v;
        std::memcpy(&v, &u, 8);
        out.values[i] = v;
        break;
      }
    }
  }
  return out;
}

/// An IDX file as an NDArray.
inline NDArray load_idx(const std::string& path, Context ctx = cpu(), DType dtype = DType::float32) {
  IdxData d = read_idx(path);
  return nd::array(d.values, d.shape, ctx, dtype);
}

/// A labelled image set: images (N, rows, cols) scaled to [0, 1] and labels (N,), as float32 host vectors.
struct LabelledImages {
  Shape image_shape;  ///< (rows, cols)
  std::vector<float> images;
  std::vector<float> labels;
  size_t size() const { return labels.size(); }
};

/// Reads an images file and its labels file; their counts must agree.
inline LabelledImages read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  IdxData img = read_idx(images_path), lab = read_idx(labels_path);
  if (img.shape.ndim() != 3)
    mixt::detail::fail("read_idx", "'", images_path, "': expected 3 dimensions (count, rows, cols), received shape ", img.shape);
  if (lab.shape.ndim() != 1)
    mixt::detail::fail("read_idx", "'", labels_path, "': expected 1 dimension (count), received shape ", lab.shape);
  if (img.shape[0] != lab.shape[0])
    mixt::detail::fail("read_idx", "image and label counts differ: ", img.shape[0], " images in '", images_path, "', ",
                       lab.shape[0], " labels in '", labels_path, "'");
  LabelledImages out;
  out.image_shape = Shape{img.shape[1], img.shape[2]};
  out.images.resize(img.values.size());
  for (size_t i = 0; i < img.values.size(); ++i) out.images[i] = float(img.values[i] / 255.0);
  out.labels.assign(lab.values.begin(), lab.values.end());
  return out;
}

/// Fashion-MNIST from Debian's dataset-fashion-mnist package (or another folder with the four files).
inline LabelledImages fashion_mnist(bool train, const std::string& dir = "/usr/share/datasets/fashion-mnist") {
  std::string prefix = dir + (train ? "/train" : "/t10k");
  return read_idx_pair(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz");
}

}  // namespace mixt::gluon::data
