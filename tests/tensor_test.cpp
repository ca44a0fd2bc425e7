#include "nnkit/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "nnkit/error.h"

namespace nnkit {
namespace {

TEST(Tensor, IsZeroFilledAndAligned) {
  Tensor t({3, 5});
  EXPECT_EQ(t.size(), 15);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % 64, 0u);
  for (float v : t) EXPECT_EQ(v, 0.0f);
}

// Small blocks are aligned by hand inside a malloc block, large ones come from aligned_alloc
// and the buffer cache (tensor.cpp): both sides of the boundary, and sizes that are not
// multiples of the alignment, are aligned, hold their size (ASan sees a write past the end)
// and keep their contents while others come and go.
TEST(Tensor, SmallAndLargeBlocksAreAlignedAndWhole) {
  std::vector<Tensor> kept;
  for (int64_t size : {1, 15, 16, 17, 1000, 16383, 16384, 16385, 70000}) {
    for (int copy = 0; copy < 3; ++copy) {
      Tensor t = Tensor::uninitialized({size});
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % 64, 0u) << size;
      for (int64_t i = 0; i < size; ++i) t[i] = static_cast<float>(i + copy);
      kept.push_back(std::move(t));
    }
    kept.erase(kept.begin());  // free one while the others live
  }
  for (const Tensor& t : kept) {
    const int64_t size = t.size();
    const float first = t[0];
    for (int64_t i = 0; i < size; ++i) ASSERT_EQ(t[i], first + static_cast<float>(i)) << size;
  }
}

TEST(Tensor, CopyIsDeepAndMoveIsFree) {
  Tensor a({2, 2}, {1, 2, 3, 4});
  Tensor b = a;
  b[0] = 9;
  EXPECT_EQ(a[0], 1);
  const float* p = a.data();
  Tensor c = std::move(a);
  EXPECT_EQ(c.data(), p);
}

TEST(Tensor, ReshapeInfersOneDimension) {
  Tensor a({2, 3, 4});
  a.reshape({2, -1});
  EXPECT_EQ(a.shape(), (Shape{2, 12}));
  EXPECT_THROW(a.reshape({5, -1}), ShapeError);
}

TEST(Tensor, SliceAndGatherRows) {
  Tensor a({3, 2}, {0, 1, 2, 3, 4, 5});
  Tensor s = a.slice_rows(1, 3);
  EXPECT_EQ(s.to_vector(), (std::vector<float>{2, 3, 4, 5}));
  int64_t idx[] = {2, 0};
  EXPECT_EQ(a.gather_rows(idx, 2).to_vector(), (std::vector<float>{4, 5, 0, 1}));
  int64_t bad[] = {3};
  EXPECT_THROW(a.gather_rows(bad, 1), ShapeError);
}

TEST(Tensor, RejectsMismatchedValues) {
  try {
    Tensor t({2, 2}, {1, 2, 3});
    FAIL() << "no throw";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("3 values given for shape [2, 2]"), std::string::npos);
  }
}

// Shapes come from files (model specs); seen while fuzzing the model loader, where [4e18, 6]
// overflowed int64 while its size was counted.
TEST(Tensor, RejectsShapesWhoseSizeOverflows) {
  for (const Shape& shape : {Shape{4'000'000'000'000'000'000, 6}, Shape{3, INT64_MAX},
                             Shape{int64_t{1} << 62}}) {  // 2^62 elements: 2^64 bytes
    try {
      Tensor t(shape);
      FAIL() << "no throw for " << shape_to_string(shape);
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("Tensor: shape " + shape_to_string(shape) +
                                           " is too large (its size overflows)"),
                std::string::npos)
          << e.what();
    }
  }
  // A zero dimension makes the size 0 however large the others are.
  const Tensor empty({INT64_MAX, 0, INT64_MAX});
  EXPECT_EQ(empty.size(), 0);
  EXPECT_TRUE(empty.empty());
}

}  // namespace
}  // namespace nnkit

namespace nnkit {
namespace {

TEST(Tensor, EmptyTensorCopiesAsEmpty) {
  Tensor empty;
  Tensor copy = empty;
  EXPECT_TRUE(copy.empty());
  Tensor assigned({2, 2}, 1.0f);
  assigned = empty;
  EXPECT_TRUE(assigned.empty());
  Tensor scalar(Shape{}, 3.0f);
  Tensor scalar_copy = scalar;
  EXPECT_EQ(scalar_copy.size(), 1);
  EXPECT_EQ(scalar_copy[0], 3.0f);
}

// Large blocks are recycled (tensor.cpp's buffer cache): a tensor made in the freed block of
// another must still start as its constructor says, and two live tensors never share a block.
TEST(TensorStorage, RecycledBlocksStartAsTheConstructorSays) {
  const Shape big{512, 256};  // 512 KiB, above the cache's threshold
  const float* first = nullptr;
  {
    Tensor a(big, 7.0f);
    first = a.data();
  }
  Tensor zeros(big);
  Tensor twos(big, 2.0f);
  EXPECT_NE(zeros.data(), twos.data());
  EXPECT_TRUE(zeros.data() == first || twos.data() == first);
  for (float v : zeros) ASSERT_EQ(v, 0.0f);
  for (float v : twos) ASSERT_EQ(v, 2.0f);
  Tensor copy = twos;
  EXPECT_NE(copy.data(), twos.data());
  EXPECT_EQ(copy.to_vector(), twos.to_vector());
}

}  // namespace
}  // namespace nnkit
