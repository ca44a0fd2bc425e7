#include "nnkit/layers/batch_normalization.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

// The memory of x is [outer, channels, inner]. Every pass below runs over samples' blocks of
// channels·inner values with per-channel coefficients expanded to one per block position
// (expand), so that the inner loop is contiguous and branch-free whatever the layout: for
// (N, F) a block is a row, for (N, C, H, W) a whole image.
std::vector<float> expand(const std::vector<float>& per_channel, int64_t inner) {
  std::vector<float> out(per_channel.size() * inner);
  for (std::size_t c = 0; c < per_channel.size(); ++c) {
    std::fill_n(out.begin() + c * inner, inner, per_channel[c]);
  }
  return out;
}

// Σ over outer and inner of a (or of a ⊙ b), per channel, accumulated in double.
std::vector<double> channel_sums(int64_t outer, int64_t channels, int64_t inner, const float* a,
                                 const float* b = nullptr) {
  const int64_t block = channels * inner;
  std::vector<double> acc(block, 0.0);
  double* acc_data = acc.data();
  for (int64_t o = 0; o < outer; ++o) {
    const float* ao = a + o * block;
    if (b == nullptr) {
#pragma omp simd
      for (int64_t j = 0; j < block; ++j) acc_data[j] += ao[j];
    } else {
      const float* bo = b + o * block;
#pragma omp simd
      for (int64_t j = 0; j < block; ++j) acc_data[j] += static_cast<double>(ao[j]) * bo[j];
    }
  }
  std::vector<double> sums(channels, 0.0);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < inner; ++i) sums[c] += acc[c * inner + i];
  }
  return sums;
}

// out = a ⊙ scale + shift, with scale and shift per block position.
void affine(int64_t outer, int64_t block, const float* a, const float* scale, const float* shift,
            float* out) {
#pragma omp parallel for if (outer * block > kParallelThreshold)
  for (int64_t o = 0; o < outer; ++o) {
    const float* ao = a + o * block;
    float* out_o = out + o * block;
#pragma omp simd
    for (int64_t j = 0; j < block; ++j) out_o[j] = ao[j] * scale[j] + shift[j];
  }
}

// Channels whose values come in runs at least this long take the per-channel path below.
constexpr int64_t kMinPlane = 16;

// The per-channel path, for inputs like (N, C, H, W) where each channel is a plane of `inner`
// contiguous values per sample. Channels are taken in groups, and each group's passes go
// sample by sample over the group's planes, which are adjacent in memory: one contiguous run
// per sample, where channel by channel would jump a whole sample between short planes and
// defeat the prefetcher. Sums are float within a plane and double across planes.
struct Planes {
  int64_t outer, channels, inner;

  const float* plane(const float* base, int64_t o, int64_t c) const {
    return base + (o * channels + c) * inner;
  }
  float* plane(float* base, int64_t o, int64_t c) const {
    return base + (o * channels + c) * inner;
  }
  // Calls body(first, last) over the channels in groups whose planes together fit in L2
  // (so that the passes after the first read from cache), threads taking shares of the groups
  // when the input is big.
  template <typename Body>
  void for_channel_ranges(const Body& body) const {
    constexpr int64_t kGroupBytes = 256 << 10;
    const int64_t group =
        std::max<int64_t>(1, kGroupBytes / std::max<int64_t>(1, outer * inner * 4));
#pragma omp parallel if (outer * channels * inner > kParallelThreshold)
    {
      const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t last = channels * (t + 1) / threads;
      for (int64_t first = channels * t / threads; first < last; first += group) {
        body(first, std::min(first + group, last));
      }
    }
  }
  // Σ v, or Σ (v − centre)² when squared, over the plane of sample o and channel c.
  float plane_sum(const float* base, int64_t o, int64_t c, bool squared = false,
                  float centre = 0.0f) const {
    const float* v = plane(base, o, c);
    float s = 0.0f;
    if (squared) {
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < inner; ++i) s += (v[i] - centre) * (v[i] - centre);
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < inner; ++i) s += v[i];
    }
    return s;
  }
};

// Training forward of channels [first, last): the batch mean, the biased batch variance and
// 1/σ per channel; writes x̂ and y = γ·x̂ + β.
void planes_forward_train(const Planes& p, int64_t first, int64_t last, const float* x,
                          const float* gamma, const float* beta, float epsilon, float* mean,
                          double* var, float* inv_std, float* x_hat, float* y) {
  const double count = static_cast<double>(p.outer * p.inner);
  std::vector<double> acc(last - first, 0.0);
  for (int64_t o = 0; o < p.outer; ++o) {
    for (int64_t c = first; c < last; ++c) acc[c - first] += p.plane_sum(x, o, c);
  }
  for (int64_t c = first; c < last; ++c) mean[c] = static_cast<float>(acc[c - first] / count);
  std::fill(acc.begin(), acc.end(), 0.0);
  for (int64_t o = 0; o < p.outer; ++o) {
    for (int64_t c = first; c < last; ++c) acc[c - first] += p.plane_sum(x, o, c, true, mean[c]);
  }
  for (int64_t c = first; c < last; ++c) {
    var[c] = acc[c - first] / count;
    inv_std[c] = static_cast<float>(1.0 / std::sqrt(var[c] + epsilon));
  }
  for (int64_t o = 0; o < p.outer; ++o) {
    for (int64_t c = first; c < last; ++c) {
      const float* xo = p.plane(x, o, c);
      float* x_hat_o = p.plane(x_hat, o, c);
      float* yo = p.plane(y, o, c);
      const float mu = mean[c], s = inv_std[c], g = gamma[c], b = beta[c];
#pragma omp simd
      for (int64_t i = 0; i < p.inner; ++i) {
        const float h = (xo[i] - mu) * s;
        x_hat_o[i] = h;
        yo[i] = g * h + b;
      }
    }
  }
}

// Σ dy and Σ dy ⊙ x̂ of channels [first, last).
void planes_gradient_sums(const Planes& p, int64_t first, int64_t last, const float* dy,
                          const float* x_hat, double* sum_dy, double* sum_dy_xhat) {
  std::fill(sum_dy + first, sum_dy + last, 0.0);
  std::fill(sum_dy_xhat + first, sum_dy_xhat + last, 0.0);
  for (int64_t o = 0; o < p.outer; ++o) {
    for (int64_t c = first; c < last; ++c) {
      const float* dyo = p.plane(dy, o, c);
      const float* ho = p.plane(x_hat, o, c);
      float s = 0.0f, sh = 0.0f;
#pragma omp simd reduction(+ : s, sh)
      for (int64_t i = 0; i < p.inner; ++i) {
        s += dyo[i];
        sh += dyo[i] * ho[i];
      }
      sum_dy[c] += s;
      sum_dy_xhat[c] += sh;
    }
  }
}

}  // namespace

BatchNormalization::BatchNormalization(BatchNormalizationOptions options)
    : options_(std::move(options)) {
  if (!(options_.momentum >= 0.0f && options_.momentum <= 1.0f)) {
    throw ValueError(
        fmt::format("BatchNormalization: momentum must be in [0, 1], got {}", options_.momentum));
  }
  if (!(options_.epsilon > 0.0f)) {
    throw ValueError(
        fmt::format("BatchNormalization: epsilon must be positive, got {}", options_.epsilon));
  }
}

std::unique_ptr<Layer> BatchNormalization::from_config(const nlohmann::json& config) {
  detail::SpecReader args("BatchNormalization", config);
  BatchNormalizationOptions o;
  o.axis = args.get_optional_int("axis");
  o.momentum = args.get_float("momentum", o.momentum);
  o.epsilon = args.get_float("epsilon", o.epsilon);
  o.center = args.get_bool("center", o.center);
  o.scale = args.get_bool("scale", o.scale);
  o.beta_initializer = args.get_initializer("beta_initializer", o.beta_initializer);
  o.gamma_initializer = args.get_initializer("gamma_initializer", o.gamma_initializer);
  o.moving_mean_initializer =
      args.get_initializer("moving_mean_initializer", o.moving_mean_initializer);
  o.moving_variance_initializer =
      args.get_initializer("moving_variance_initializer", o.moving_variance_initializer);
  args.finish();
  return std::make_unique<BatchNormalization>(std::move(o));
}

std::string BatchNormalization::who() const {
  return options_.axis ? fmt::format("BatchNormalization(axis={})", *options_.axis)
                       : "BatchNormalization";
}

Shape BatchNormalization::build(const Shape& input, Rng& rng) {
  const int64_t rank = static_cast<int64_t>(input.size()) + 1;  // with the batch
  if (input.empty()) {
    throw ShapeError(fmt::format("{}: expected input [N, features, ...], got [N]", who()));
  }
  int64_t axis = options_.axis.value_or(rank == 4 || rank == 5 ? 1 : rank - 1);
  if (axis < 0) axis += rank;
  if (axis < 1 || axis >= rank) {
    throw ShapeError(fmt::format(
        "{}: axis must name a non-batch axis of input {} (1 to {}, or -1 to -{}), got {}", who(),
        detail::batch_shape_string(input), rank - 1, rank - 1,
        options_.axis ? *options_.axis : axis));
  }
  axis_ = axis;
  const int64_t channels = input[axis - 1];
  auto make = [&](Param& p, const Initializer& init, bool with_grad) {
    p.value = Tensor({channels});
    initialize(p.value, init, rng);
    p.grad = with_grad ? Tensor({channels}) : Tensor();
  };
  if (options_.scale) make(gamma_, options_.gamma_initializer, true);
  if (options_.center) make(beta_, options_.beta_initializer, true);
  make(running_mean_, options_.moving_mean_initializer, false);
  make(running_var_, options_.moving_variance_initializer, false);
  cached_ = Cached::None;
  x_hat_ = Tensor();
  inv_std_.clear();
  input_shape_ = output_shape_ = input;
  return output_shape_;
}

BatchNormalization::Layout BatchNormalization::layout_of(const Tensor& x) const {
  Layout l{1, x.shape()[axis_], 1};
  for (int64_t i = 0; i < axis_; ++i) l.outer *= x.shape()[i];
  for (int64_t i = axis_ + 1; i < x.rank(); ++i) l.inner *= x.shape()[i];
  return l;
}

Tensor BatchNormalization::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), axis_ > 0);
  detail::check_batch_shape(who(), input_shape_, x);
  const Layout l = layout_of(x);
  const int64_t block = l.channels * l.inner;
  const std::vector<float> ones(l.channels, 1.0f), zeros(l.channels, 0.0f);
  const float* gamma = options_.scale ? gamma_.value.data() : ones.data();
  const float* beta = options_.center ? beta_.value.data() : zeros.data();
  Tensor y = Tensor::uninitialized(x.shape());
  x_shape_ = x.shape();

  if (mode == Mode::Infer) {
    // y = x·a + b with a = γ / √(running var + ε), b = β − running mean·a.
    std::vector<float> a(l.channels), b(l.channels);
    for (int64_t c = 0; c < l.channels; ++c) {
      a[c] = gamma[c] / std::sqrt(running_var_.value[c] + options_.epsilon);
      b[c] = beta[c] - running_mean_.value[c] * a[c];
    }
    affine(l.outer, block, x.data(), expand(a, l.inner).data(), expand(b, l.inner).data(),
           y.data());
    cached_ = Cached::Infer;
    x_hat_ = Tensor();
    return y;
  }

  // Two passes (mean, then the mean of squared deviations) rather than E[x²] − E[x]², which
  // cancels catastrophically when the mean is large against the spread.
  const int64_t count = l.outer * l.inner;
  // Running statistics: Keras's momentum; the unbiased variance, as PyTorch keeps (with a
  // single value per channel there is none, and the biased one, 0, is used).
  const float m = options_.momentum;
  const double unbias = count > 1 ? static_cast<double>(count) / (count - 1) : 1.0;
  x_hat_ = Tensor::uninitialized(x.shape());
  inv_std_.assign(l.channels, 0.0f);
  if (l.inner >= kMinPlane) {
    const Planes p{l.outer, l.channels, l.inner};
    std::vector<float> mean(l.channels);
    std::vector<double> var(l.channels);
    p.for_channel_ranges([&](int64_t first, int64_t last) {
      planes_forward_train(p, first, last, x.data(), gamma, beta, options_.epsilon, mean.data(),
                           var.data(), inv_std_.data(), x_hat_.data(), y.data());
    });
    for (int64_t c = 0; c < l.channels; ++c) {
      running_mean_.value[c] = m * running_mean_.value[c] + (1.0f - m) * mean[c];
      running_var_.value[c] =
          m * running_var_.value[c] + (1.0f - m) * static_cast<float>(var[c] * unbias);
    }
    cached_ = Cached::Train;
    return y;
  }
  std::vector<double> sums = channel_sums(l.outer, l.channels, l.inner, x.data());
  std::vector<float> mean(l.channels), minus_mean(l.channels);
  for (int64_t c = 0; c < l.channels; ++c) {
    mean[c] = static_cast<float>(sums[c] / count);
    minus_mean[c] = -mean[c];
  }
  const std::vector<float> unit(block, 1.0f);
  affine(l.outer, block, x.data(), unit.data(), expand(minus_mean, l.inner).data(), x_hat_.data());
  std::vector<double> squares =
      channel_sums(l.outer, l.channels, l.inner, x_hat_.data(), x_hat_.data());
  std::vector<float> zero_shift(block, 0.0f);
  for (int64_t c = 0; c < l.channels; ++c) {
    const double var = squares[c] / count;
    inv_std_[c] = static_cast<float>(1.0 / std::sqrt(var + options_.epsilon));
    running_mean_.value[c] = m * running_mean_.value[c] + (1.0f - m) * mean[c];
    running_var_.value[c] =
        m * running_var_.value[c] + (1.0f - m) * static_cast<float>(var * unbias);
  }
  affine(l.outer, block, x_hat_.data(), expand(inv_std_, l.inner).data(), zero_shift.data(),
         x_hat_.data());
  affine(l.outer, block, x_hat_.data(), expand({gamma, gamma + l.channels}, l.inner).data(),
         expand({beta, beta + l.channels}, l.inner).data(), y.data());
  cached_ = Cached::Train;
  return y;
}

Tensor BatchNormalization::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_ != Cached::None);
  detail::check_gradient_shape(who(), x_shape_, dy);
  const Layout l = layout_of(dy);
  const int64_t block = l.channels * l.inner;
  std::vector<float> gamma(l.channels, 1.0f);
  if (options_.scale) gamma.assign(gamma_.value.begin(), gamma_.value.end());
  Tensor dx = Tensor::uninitialized(dy.shape());
  const std::vector<float> zero_shift(block, 0.0f);

  if (cached_ == Cached::Infer) {
    std::vector<float> a(l.channels);
    for (int64_t c = 0; c < l.channels; ++c) {
      a[c] = gamma[c] / std::sqrt(running_var_.value[c] + options_.epsilon);
    }
    affine(l.outer, block, dy.data(), expand(a, l.inner).data(), zero_shift.data(), dx.data());
    return dx;
  }

  // With x̂ = (x − μ)·s, s = 1/σ, y = γ·x̂ + β, over the m values of a channel:
  //   dx = γ·s·(dy − mean(dy) − x̂·mean(dy ⊙ x̂))
  // the terms through μ and σ² being the two means.
  const double count = static_cast<double>(l.outer * l.inner);
  if (l.inner >= kMinPlane) {
    const Planes p{l.outer, l.channels, l.inner};
    std::vector<double> sum_dy(l.channels), sum_dy_xhat(l.channels);
    p.for_channel_ranges([&](int64_t first, int64_t last) {
      planes_gradient_sums(p, first, last, dy.data(), x_hat_.data(), sum_dy.data(),
                           sum_dy_xhat.data());
      for (int64_t o = 0; o < p.outer; ++o) {
        for (int64_t c = first; c < last; ++c) {
          const float k = gamma[c] * inv_std_[c];
          const float shift = static_cast<float>(-k * sum_dy[c] / count);
          const float slope = static_cast<float>(-k * sum_dy_xhat[c] / count);
          const float* dyo = p.plane(dy.data(), o, c);
          const float* ho = p.plane(x_hat_.data(), o, c);
          float* dxo = p.plane(dx.data(), o, c);
#pragma omp simd
          for (int64_t i = 0; i < p.inner; ++i) dxo[i] = k * dyo[i] + shift + slope * ho[i];
        }
      }
    });
    for (int64_t c = 0; c < l.channels; ++c) {
      if (options_.scale) gamma_.grad[c] += static_cast<float>(sum_dy_xhat[c]);
      if (options_.center) beta_.grad[c] += static_cast<float>(sum_dy[c]);
    }
    return dx;
  }
  std::vector<double> sum_dy = channel_sums(l.outer, l.channels, l.inner, dy.data());
  std::vector<double> sum_dy_xhat =
      channel_sums(l.outer, l.channels, l.inner, dy.data(), x_hat_.data());
  std::vector<float> k(l.channels), shift(l.channels), slope(l.channels);
  for (int64_t c = 0; c < l.channels; ++c) {
    k[c] = gamma[c] * inv_std_[c];
    shift[c] = static_cast<float>(-k[c] * sum_dy[c] / count);
    slope[c] = static_cast<float>(-k[c] * sum_dy_xhat[c] / count);
    if (options_.scale) gamma_.grad[c] += static_cast<float>(sum_dy_xhat[c]);
    if (options_.center) beta_.grad[c] += static_cast<float>(sum_dy[c]);
  }
  const std::vector<float> k_e = expand(k, l.inner), shift_e = expand(shift, l.inner),
                           slope_e = expand(slope, l.inner);
  const float* dy_data = dy.data();
  const float* x_hat = x_hat_.data();
  float* dx_data = dx.data();
#pragma omp parallel for if (l.outer * block > kParallelThreshold)
  for (int64_t o = 0; o < l.outer; ++o) {
    const int64_t base = o * block;
#pragma omp simd
    for (int64_t j = 0; j < block; ++j) {
      dx_data[base + j] = k_e[j] * dy_data[base + j] + shift_e[j] + slope_e[j] * x_hat[base + j];
    }
  }
  return dx;
}

std::vector<Param*> BatchNormalization::params() {
  std::vector<Param*> out;
  if (options_.scale) out.push_back(&gamma_);
  if (options_.center) out.push_back(&beta_);
  out.push_back(&running_mean_);
  out.push_back(&running_var_);
  return out;
}

nlohmann::json BatchNormalization::config() const {
  nlohmann::json j = {
      {"type", "BatchNormalization"},
      {"momentum", detail::json_float(options_.momentum)},
      {"epsilon", detail::json_float(options_.epsilon)},
      {"center", options_.center},
      {"scale", options_.scale},
      {"beta_initializer", initializer_to_json(options_.beta_initializer)},
      {"gamma_initializer", initializer_to_json(options_.gamma_initializer)},
      {"moving_mean_initializer", initializer_to_json(options_.moving_mean_initializer)},
      {"moving_variance_initializer", initializer_to_json(options_.moving_variance_initializer)}};
  if (options_.axis) j["axis"] = *options_.axis;
  return j;
}

}  // namespace nnkit
