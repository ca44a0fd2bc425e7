#include "nnkit/tensor.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {
constexpr std::size_t kAlignment = 64;  // one cache line; AVX-512 loads never split

// A training step frees and allocates the same large tensors again and again (a convolution's
// output is 6 MB at batch 64). glibc serves blocks that large with fresh pages from mmap,
// and the kernel's page faults and zeroing took a fifth of a CNN epoch (perf). Freed blocks
// from kMinCachedBytes up are kept here, up to kMaxCachedBytes in all, oldest dropped first,
// and handed back to an allocation of exactly the same size. Smaller blocks glibc reuses well
// (small_block_alloc below).
constexpr std::size_t kMinCachedBytes = std::size_t{64} << 10;
constexpr std::size_t kMaxCachedBytes = std::size_t{128} << 20;

class BufferCache {
 public:
  void* take(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    // Newest first: the block freed last is the likeliest still in cache.
    for (std::size_t i = blocks_.size(); i-- > 0;) {
      if (blocks_[i].first == bytes) {
        void* p = blocks_[i].second;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        cached_ -= bytes;
        return p;
      }
    }
    return nullptr;
  }

  void give(void* p, std::size_t bytes) {
    if (bytes > kMaxCachedBytes) {
      std::free(p);
      return;
    }
    std::vector<void*> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (cached_ + bytes > kMaxCachedBytes) {
        dropped.push_back(blocks_.front().second);
        cached_ -= blocks_.front().first;
        blocks_.erase(blocks_.begin());
      }
      blocks_.emplace_back(bytes, p);
      cached_ += bytes;
    }
    for (void* d : dropped) std::free(d);
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<std::size_t, void*>> blocks_;  // oldest first
  std::size_t cached_ = 0;
};

// Never destroyed: tensors in other static objects may be freed after this file's statics.
BufferCache& buffer_cache() {
  static BufferCache* cache = new BufferCache;
  return *cache;
}

// Blocks under kMinCachedBytes come from malloc, aligned here by hand: glibc 2.36 (Debian 12)
// serves aligned_alloc on its slow path (a larger block split, the rest freed and merged),
// 70-86 ns for a [1, 128] tensor against some 20 for malloc's per-thread cache, and a
// streaming step allocates its output every call. malloc's pointer is kept in the 8 bytes
// before the aligned block, for free.
void* small_block_alloc(std::size_t bytes) {
  void* raw = std::malloc(bytes + kAlignment);
  if (raw == nullptr) return nullptr;
  const auto at = reinterpret_cast<std::uintptr_t>(raw) + sizeof(void*);
  void* aligned = reinterpret_cast<void*>((at + kAlignment - 1) / kAlignment * kAlignment);
  std::memcpy(static_cast<char*>(aligned) - sizeof(void*), &raw, sizeof(void*));
  return aligned;
}

void small_block_free(void* aligned) {
  void* raw;
  std::memcpy(&raw, static_cast<char*>(aligned) - sizeof(void*), sizeof(void*));
  std::free(raw);
}
}  // namespace

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

void Tensor::AlignedFree::operator()(float* p) const {
  if (bytes < kMinCachedBytes) {
    small_block_free(p);
  } else {
    buffer_cache().give(p, bytes);
  }
}

void Tensor::allocate() {
  for (int64_t d : shape_) {
    if (d < 0)
      throw ValueError(
          fmt::format("Tensor: negative dimension in shape {}", shape_to_string(shape_)));
  }
  // Shapes can come from files (a model spec's units, a reshape's dimensions): the size is
  // counted with overflow checks, in elements and in bytes, before it is trusted. A zero
  // dimension anywhere makes it 0, however large the others.
  size_ = 0;
  if (std::find(shape_.begin(), shape_.end(), 0) == shape_.end()) {
    int64_t size = 1;
    for (int64_t d : shape_) {
      if (__builtin_mul_overflow(size, d, &size) ||
          static_cast<uint64_t>(size) > (SIZE_MAX - kAlignment) / sizeof(float)) {
        throw ValueError(fmt::format("Tensor: shape {} is too large (its size overflows)",
                                     shape_to_string(shape_)));
      }
    }
    size_ = size;
  }
  if (size_ == 0) {
    data_.reset();
    return;
  }
  std::size_t bytes = static_cast<std::size_t>(size_) * sizeof(float);
  bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = nullptr;
  if (bytes < kMinCachedBytes) {
    p = small_block_alloc(bytes);
  } else {
    p = buffer_cache().take(bytes);
    if (p == nullptr) p = std::aligned_alloc(kAlignment, bytes);
  }
  if (p == nullptr) throw std::bad_alloc();
  data_ = std::unique_ptr<float[], AlignedFree>(static_cast<float*>(p), AlignedFree{bytes});
}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)) {
  allocate();
  zero();
}

Tensor Tensor::uninitialized(Shape shape) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.allocate();
  return t;
}

Tensor::Tensor(Shape shape, float fill_value) : shape_(std::move(shape)) {
  allocate();
  fill(fill_value);
}

Tensor::Tensor(Shape shape, const std::vector<float>& values) : shape_(std::move(shape)) {
  allocate();
  if (static_cast<int64_t>(values.size()) != size_) {
    throw ShapeError(fmt::format("Tensor: {} values given for shape {} ({} elements)",
                                 values.size(), shape_to_string(shape_), size_));
  }
  std::copy(values.begin(), values.end(), begin());
}

Tensor::Tensor(const Tensor& other) : shape_(other.shape_) {
  // A default-constructed tensor (no shape, no storage) copies as one; shape [] alone would
  // be a scalar of one element.
  if (other.data_ == nullptr && other.size_ == 0 && other.shape_.empty()) return;
  allocate();
  std::copy(other.begin(), other.end(), begin());
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this == &other) return *this;
  if (other.data_ == nullptr && other.size_ == 0 && other.shape_.empty()) {
    *this = Tensor();
    return *this;
  }
  if (size_ != other.size_ || data_ == nullptr) {
    shape_ = other.shape_;
    allocate();
  } else {
    shape_ = other.shape_;
  }
  std::copy(other.begin(), other.end(), begin());
  return *this;
}

int64_t Tensor::dim(int i) const {
  int r = rank();
  int j = i < 0 ? r + i : i;
  if (j < 0 || j >= r) {
    throw ShapeError(
        fmt::format("Tensor::dim({}) on a tensor of shape {}", i, shape_to_string(shape_)));
  }
  return shape_[j];
}

void Tensor::reshape(Shape shape) {
  int infer = -1;
  int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0)
        throw ShapeError("Tensor::reshape: more than one -1 in " + shape_to_string(shape));
      infer = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0 && known > 0 && size_ % known == 0) shape[infer] = size_ / known;
  if (shape_size(shape) != size_) {
    throw ShapeError(fmt::format("Tensor::reshape: cannot view {} ({} elements) as {}",
                                 shape_to_string(shape_), size_, shape_to_string(shape)));
  }
  shape_ = std::move(shape);
}

Tensor Tensor::reshaped(Shape shape) const& {
  Tensor t(*this);
  t.reshape(std::move(shape));
  return t;
}

Tensor Tensor::reshaped(Shape shape) && {
  reshape(std::move(shape));
  return std::move(*this);
}

void Tensor::fill(float value) { std::fill(begin(), end(), value); }

Tensor Tensor::slice_rows(int64_t first, int64_t last) const {
  if (rank() == 0 || first < 0 || last > shape_[0] || first > last) {
    throw ShapeError(fmt::format("Tensor::slice_rows({}, {}) on shape {}", first, last,
                                 shape_to_string(shape_)));
  }
  Shape s = shape_;
  s[0] = last - first;
  Tensor out(s);
  int64_t row = size_ / std::max<int64_t>(shape_[0], 1);
  if (out.size_ > 0) std::memcpy(out.data(), data() + first * row, sizeof(float) * out.size_);
  return out;
}

Tensor Tensor::gather_rows(const int64_t* indices, int64_t count) const {
  if (rank() == 0) throw ShapeError("Tensor::gather_rows on a scalar");
  Shape s = shape_;
  s[0] = count;
  Tensor out(s);
  int64_t row = shape_[0] > 0 ? size_ / shape_[0] : 0;
  for (int64_t i = 0; i < count; ++i) {
    if (indices[i] < 0 || indices[i] >= shape_[0]) {
      throw ShapeError(
          fmt::format("Tensor::gather_rows: index {} outside [0, {})", indices[i], shape_[0]));
    }
    std::memcpy(out.data() + i * row, data() + indices[i] * row, sizeof(float) * row);
  }
  return out;
}

}  // namespace nnkit
