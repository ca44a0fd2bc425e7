#include "nnkit/initializers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "nnkit/error.h"

namespace nnkit {
namespace {

struct Stats {
  double mean, variance, max_abs;
};

Stats stats_of(const Tensor& w) {
  double sum = 0, sum_sq = 0, max_abs = 0;
  for (float v : w) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
  }
  double n = static_cast<double>(w.size());
  double mean = sum / n;
  return {mean, sum_sq / n - mean * mean, max_abs};
}

Tensor initialized(const Shape& shape, const nlohmann::json& spec, uint64_t seed = 1) {
  Tensor w(shape);
  Rng rng(seed);
  initialize(w, parse_initializer(spec), rng);
  return w;
}

// Mean within 5 standard errors of 0, variance within 3 % (its standard error here is
// about 0.4 %), and, for uniform draws, every value inside the limit.
void expect_distribution(const Tensor& w, double variance, double limit) {
  Stats s = stats_of(w);
  double n = static_cast<double>(w.size());
  EXPECT_LT(std::fabs(s.mean), 5 * std::sqrt(variance / n)) << "mean";
  EXPECT_NEAR(s.variance / variance, 1.0, 0.03) << "variance " << s.variance << " vs " << variance;
  EXPECT_LE(s.max_abs, limit) << "bound";
}

TEST(Initializers, VarianceScalingFamiliesHaveTheirVariancesAndBounds) {
  // A [units, in] weight: fan_in = 512, fan_out = 256.
  const Shape shape{256, 512};
  const double fan_in = 512, fan_out = 256;
  struct Case {
    const char* name;
    double variance;
    bool uniform;
  };
  for (const Case& c :
       {Case{"glorot_uniform", 2 / (fan_in + fan_out), true},
        Case{"glorot_normal", 2 / (fan_in + fan_out), false}, Case{"he_uniform", 2 / fan_in, true},
        Case{"he_normal", 2 / fan_in, false}, Case{"lecun_uniform", 1 / fan_in, true},
        Case{"lecun_normal", 1 / fan_in, false}}) {
    SCOPED_TRACE(c.name);
    // Uniform in ±√(3·var); the truncated normals stop at two of their untruncated stddevs.
    double limit = c.uniform ? std::sqrt(3 * c.variance)
                             : 2 * std::sqrt(c.variance) / 0.87962566103423978 * (1 + 1e-6);
    Tensor w = initialized(shape, c.name);
    expect_distribution(w, c.variance, limit);
    if (c.uniform) {
      // The draws fill the range: the largest is near the limit.
      EXPECT_GT(stats_of(w).max_abs, 0.99 * limit);
    }
  }
}

TEST(Initializers, ConvolutionFansIncludeTheReceptiveField) {
  // [out 64, in 32, 3, 3]: fan_in = 32·9.
  Tensor w = initialized({64, 32, 3, 3}, "he_uniform");
  Stats s = stats_of(w);
  EXPECT_NEAR(s.variance / (2.0 / 288), 1.0, 0.05);
  EXPECT_LE(s.max_abs, std::sqrt(6.0 / 288));
}

TEST(Initializers, ClassicUniformStaysInsideMinusOneOne) {
  Tensor w = initialized({300, 300}, "classic_uniform");
  expect_distribution(w, 1.0 / 3.0, 1.0);
  for (float v : w) ASSERT_LT(std::fabs(v), 1.0f);
}

TEST(Initializers, UniformNormalAndConstantsUseTheirArguments) {
  Tensor u = initialized({200, 200}, {{"type", "uniform"}, {"minval", 1.0}, {"maxval", 3.0}});
  Stats su = stats_of(u);
  EXPECT_NEAR(su.mean, 2.0, 0.01);
  EXPECT_NEAR(su.variance, 4.0 / 12, 0.01);
  for (float v : u) ASSERT_TRUE(v >= 1.0f && v < 3.0f);
  Tensor n = initialized({200, 200}, {{"type", "normal"}, {"mean", -1.0}, {"stddev", 0.5}});
  Stats sn = stats_of(n);
  EXPECT_NEAR(sn.mean, -1.0, 0.01);
  EXPECT_NEAR(sn.variance, 0.25, 0.01);
  for (float v : initialized({3, 4}, "zeros")) EXPECT_EQ(v, 0.0f);
  for (float v : initialized({3, 4}, "ones")) EXPECT_EQ(v, 1.0f);
  for (float v : initialized({3, 4}, {{"type", "constant"}, {"value", 0.25}})) EXPECT_EQ(v, 0.25f);
}

// G = A·Aᵀ over the short side of w, which must be gain²·I.
void expect_orthonormal(const Tensor& w, double gain) {
  int64_t rows = w.dim(0), cols = w.size() / rows;
  bool wide = rows < cols;
  int64_t k = wide ? rows : cols;  // number of orthonormal vectors
  int64_t n = wide ? cols : rows;  // their length
  auto at = [&](int64_t vector, int64_t i) {
    return static_cast<double>(wide ? w[vector * cols + i] : w[i * cols + vector]);
  };
  double worst = 0;
  for (int64_t a = 0; a < k; ++a) {
    for (int64_t b = 0; b < k; ++b) {
      double dot = 0;
      for (int64_t i = 0; i < n; ++i) dot += at(a, i) * at(b, i);
      worst = std::max(worst, std::fabs(dot - (a == b ? gain * gain : 0.0)));
    }
  }
  EXPECT_LT(worst, 1e-5) << "largest deviation of the Gram matrix from gain²·I";
}

TEST(Initializers, OrthogonalGivesOrthonormalColumnsOrRows) {
  {
    SCOPED_TRACE("tall [64, 16]: WᵀW = I");
    expect_orthonormal(initialized({64, 16}, "orthogonal"), 1.0);
  }
  {
    SCOPED_TRACE("wide [16, 64]: WWᵀ = I");
    expect_orthonormal(initialized({16, 64}, "orthogonal"), 1.0);
  }
  {
    SCOPED_TRACE("square with gain 2");
    expect_orthonormal(initialized({32, 32}, {{"type", "orthogonal"}, {"gain", 2.0}}), 2.0);
  }
  {
    SCOPED_TRACE("convolution [8, 2, 3, 3] as [8, 18]");
    expect_orthonormal(initialized({8, 2, 3, 3}, "orthogonal"), 1.0);
  }
}

TEST(Initializers, SameSeedGivesIdenticalBitsAndOtherSeedsDiffer) {
  for (const char* name : {"glorot_uniform", "he_normal", "orthogonal", "classic_uniform"}) {
    SCOPED_TRACE(name);
    Tensor a = initialized({17, 9}, name, 42);
    Tensor b = initialized({17, 9}, name, 42);
    Tensor c = initialized({17, 9}, name, 43);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()), 0);
    EXPECT_NE(std::memcmp(a.data(), c.data(), sizeof(float) * a.size()), 0);
  }
}

TEST(ParseInitializer, ReadsNamesKerasObjectsAndTypeObjects) {
  EXPECT_EQ(parse_initializer("he_normal").name, "he_normal");
  EXPECT_EQ(parse_initializer("GlorotUniform").name, "glorot_uniform");
  EXPECT_EQ(parse_initializer("RandomNormal").name, "normal");
  Initializer c = parse_initializer({{"class_name", "Constant"}, {"config", {{"value", 0.1}}}});
  EXPECT_EQ(c.name, "constant");
  EXPECT_FLOAT_EQ(c.value, 0.1f);
  Initializer u = parse_initializer({{"type", "uniform"}, {"minval", -2.0}, {"maxval", 2.0}});
  EXPECT_FLOAT_EQ(u.minval, -2.0f);
  EXPECT_FLOAT_EQ(u.maxval, 2.0f);
  // initializer_to_json round-trips.
  for (const Initializer& init : {c, u, parse_initializer("orthogonal")}) {
    Initializer back = parse_initializer(initializer_to_json(init));
    EXPECT_EQ(back.name, init.name);
    EXPECT_EQ(back.value, init.value);
    EXPECT_EQ(back.minval, init.minval);
    EXPECT_EQ(back.maxval, init.maxval);
  }
}

TEST(ParseInitializer, RejectsUnknownNamesAndBadArguments) {
  try {
    parse_initializer("xavier_magic");
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown initializer 'xavier_magic'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_initializer(42), ValueError);
  EXPECT_THROW(parse_initializer({{"units", 3}}), ValueError);
  try {
    parse_initializer({{"type", "constant"}, {"value", "big"}});
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("constant"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nnkit
