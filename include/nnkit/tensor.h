// Tensor: float32 values in one 64-byte aligned, contiguous, row-major buffer, with a shape.
// Copying a Tensor copies its values; moving it is free. There are no views or strides:
// layers that need another layout copy explicitly, so every kernel sees plain arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace nnkit {

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for the empty shape, a scalar).
int64_t shape_size(const Shape& shape);
// "[32, 28, 28]"; with batch_first_unknown "[N, 28, 28]" style is up to the caller.
std::string shape_to_string(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of the given shape. Throws ValueError on a negative dimension or a
  // shape whose size overflows (in elements or bytes); std::bad_alloc when memory runs out.
  explicit Tensor(Shape shape);
  Tensor(Shape shape, float fill);
  // Values in row-major order; values.size() must equal shape_size(shape).
  Tensor(Shape shape, const std::vector<float>& values);
  // Values left unset: for outputs a kernel overwrites completely.
  static Tensor uninitialized(Shape shape);

  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&& other) noexcept = default;
  Tensor& operator=(Tensor&& other) noexcept = default;

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Dimension i; negative i counts from the end (dim(-1) is the last).
  int64_t dim(int i) const;
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  float& operator[](int64_t i) { return data_[i]; }
  float operator[](int64_t i) const { return data_[i]; }
  float* begin() { return data(); }
  float* end() { return data() + size_; }
  const float* begin() const { return data(); }
  const float* end() const { return data() + size_; }

  // Same values, new shape of the same size (one dimension may be -1). Throws ShapeError.
  void reshape(Shape shape);
  Tensor reshaped(Shape shape) const&;
  Tensor reshaped(Shape shape) &&;

  void fill(float value);
  void zero() { fill(0.0f); }
  std::vector<float> to_vector() const { return {begin(), end()}; }

  // Rows [begin, end) of the first dimension, copied.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Rows of the first dimension picked by index, copied (for shuffled minibatches).
  Tensor gather_rows(const int64_t* indices, int64_t count) const;

 private:
  // Hands the storage back to the buffer cache (tensor.cpp), which needs its size.
  struct AlignedFree {
    std::size_t bytes;  // no default member initializer: GCC would need Tensor complete
    void operator()(float* p) const;
  };
  void allocate();

  Shape shape_;
  int64_t size_ = 0;
  std::unique_ptr<float[], AlignedFree> data_;
};

}  // namespace nnkit
