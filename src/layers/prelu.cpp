#include "nnkit/layers/prelu.h"

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;
}  // namespace

PReLU::PReLU(PReLUOptions options) : options_(std::move(options)) {}

std::unique_ptr<Layer> PReLU::from_config(const nlohmann::json& config) {
  detail::SpecReader args("PReLU", config);
  PReLUOptions o;
  o.alpha_initializer = args.get_initializer("alpha_initializer", o.alpha_initializer);
  o.shared_axes = args.get_int_list("shared_axes", {});
  args.finish();
  return std::make_unique<PReLU>(std::move(o));
}

Shape PReLU::build(const Shape& input, Rng& rng) {
  const int64_t rank = static_cast<int64_t>(input.size()) + 1;  // with the batch
  Shape alpha_shape = input;
  for (int64_t axis : options_.shared_axes) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 1 || a >= rank) {
      throw ShapeError(fmt::format(
          "PReLU(shared_axes=[{}]): shared axis {} is not a non-batch axis of input {}",
          fmt::join(options_.shared_axes, ", "), axis, detail::batch_shape_string(input)));
    }
    alpha_shape[a - 1] = 1;
  }
  alpha_.value = Tensor(alpha_shape);
  initialize(alpha_.value, options_.alpha_initializer, rng);
  alpha_.grad = Tensor(alpha_shape);

  // Element f of a sample, at multi-index (i_1, ..., i_k), uses alpha at the same index with
  // the shared axes' indices set to 0.
  const int64_t features = shape_size(input);
  alpha_index_.assign(features, 0);
  for (int64_t f = 0; f < features; ++f) {
    int64_t rest = f, index = 0, stride = 1;
    for (int64_t d = static_cast<int64_t>(input.size()) - 1; d >= 0; --d) {
      const int64_t i = rest % input[d];
      rest /= input[d];
      if (alpha_shape[d] != 1) index += i * stride;
      stride *= alpha_shape[d];
    }
    alpha_index_[f] = index;
  }
  built_ = true;
  x_ = Tensor();
  input_shape_ = output_shape_ = input;
  return output_shape_;
}

std::vector<float> PReLU::expanded_alpha() const {
  std::vector<float> out(alpha_index_.size());
  for (std::size_t f = 0; f < out.size(); ++f) out[f] = alpha_.value[alpha_index_[f]];
  return out;
}

Tensor PReLU::forward(const Tensor& x, Mode mode) {
  detail::check_built("PReLU", built_);
  detail::check_batch_shape("PReLU", input_shape_, x);
  const std::vector<float> alpha = expanded_alpha();
  const int64_t features = static_cast<int64_t>(alpha.size()), batch = x.dim(0);
  Tensor y = Tensor::uninitialized(x.shape());
  const float* xd = x.data();
  float* yd = y.data();
  const float* a = alpha.data();
#pragma omp parallel for if (x.size() > kParallelThreshold)
  for (int64_t n = 0; n < batch; ++n) {
    const int64_t base = n * features;
#pragma omp simd
    for (int64_t f = 0; f < features; ++f) {
      const float v = xd[base + f];
      yd[base + f] = v > 0.0f ? v : a[f] * v;
    }
  }
  x_ = mode == Mode::Train ? x : Tensor();
  return y;
}

Tensor PReLU::backward(const Tensor& dy) {
  detail::check_forward_cache("PReLU", !x_.empty());
  detail::check_gradient_shape("PReLU", x_.shape(), dy);
  const std::vector<float> alpha = expanded_alpha();
  const int64_t features = static_cast<int64_t>(alpha.size()), batch = dy.dim(0);
  Tensor dx = Tensor::uninitialized(dy.shape());
  std::vector<float> dalpha(features, 0.0f);
  const float* xd = x_.data();
  const float* dyd = dy.data();
  float* dxd = dx.data();
  for (int64_t n = 0; n < batch; ++n) {
    const int64_t base = n * features;
#pragma omp simd
    for (int64_t f = 0; f < features; ++f) {
      const float v = xd[base + f], g = dyd[base + f];
      dxd[base + f] = v > 0.0f ? g : alpha[f] * g;
      dalpha[f] += v > 0.0f ? 0.0f : g * v;
    }
  }
  for (int64_t f = 0; f < features; ++f) alpha_.grad[alpha_index_[f]] += dalpha[f];
  return dx;
}

nlohmann::json PReLU::config() const {
  nlohmann::json j = {{"type", "PReLU"},
                      {"alpha_initializer", initializer_to_json(options_.alpha_initializer)}};
  if (!options_.shared_axes.empty()) j["shared_axes"] = options_.shared_axes;
  return j;
}

}  // namespace nnkit
