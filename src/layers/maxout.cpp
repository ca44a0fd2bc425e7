#include "nnkit/layers/maxout.h"

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

const MaxoutOptions& validated(const MaxoutOptions& o) {
  if (o.units <= 0 || o.pieces <= 0) {
    throw ValueError(
        fmt::format("Maxout: units and pieces must be positive, got units={}, "
                    "pieces={}",
                    o.units, o.pieces));
  }
  return o;
}

DenseOptions affine_options(const MaxoutOptions& o) {
  return {.units = o.units * o.pieces,
          .activation = "linear",
          .alpha = {},
          .use_bias = o.use_bias,
          .kernel_initializer = o.kernel_initializer,
          .bias_initializer = o.bias_initializer};
}

}  // namespace

Maxout::Maxout(MaxoutOptions options)
    : options_(validated(options)), affine_(affine_options(options_)) {}

std::unique_ptr<Layer> Maxout::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Maxout", config);
  MaxoutOptions o;
  args.require("units");
  o.units = args.get_int("units", 0);
  o.pieces = args.get_int("pieces", o.pieces);
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  args.finish();
  return std::make_unique<Maxout>(std::move(o));
}

std::string Maxout::who() const {
  return fmt::format("Maxout(units={}, pieces={})", options_.units, options_.pieces);
}

Shape Maxout::build(const Shape& input, Rng& rng) {
  if (input.empty() || input.back() <= 0) {
    throw ShapeError(fmt::format("{}: expected input [N, ..., features], got per-sample shape {}",
                                 who(), shape_to_string(input)));
  }
  affine_.build(input, rng);
  argmax_.clear();
  input_shape_ = output_shape_ = input;
  output_shape_.back() = options_.units;
  return output_shape_;
}

Tensor Maxout::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), !input_shape_.empty());
  bool flatten_hint = input_shape_.size() == 1 && x.rank() > 2;
  detail::check_batch_shape(who(), input_shape_, x,
                            flatten_hint ? "add Flatten before Maxout" : "");
  const Tensor z = affine_.forward(x, mode);
  const int64_t units = options_.units, pieces = options_.pieces;
  const int64_t outputs = z.size() / pieces;  // rows · units
  Shape out = x.shape();
  out.back() = units;
  Tensor y = Tensor::uninitialized(out);
  if (mode == Mode::Train) {
    argmax_.assign(outputs, 0);
  } else {
    argmax_.clear();
  }
  for (int64_t o = 0; o < outputs; ++o) {
    const float* zo = z.data() + o * pieces;
    int32_t best = 0;
    for (int32_t p = 1; p < pieces; ++p) {
      if (zo[p] > zo[best]) best = p;
    }
    y[o] = zo[best];
    if (mode == Mode::Train) argmax_[o] = best;
  }
  y_shape_ = out;
  return y;
}

Tensor Maxout::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), !argmax_.empty());
  detail::check_gradient_shape(who(), y_shape_, dy);
  const int64_t pieces = options_.pieces;
  Shape z_shape = dy.shape();
  z_shape.back() *= pieces;
  Tensor dz(z_shape);  // zeros: only the winning piece of each unit gets a gradient
  for (int64_t o = 0; o < dy.size(); ++o) dz[o * pieces + argmax_[o]] = dy[o];
  return affine_.backward(dz);
}

nlohmann::json Maxout::config() const {
  return {{"type", "Maxout"},
          {"units", options_.units},
          {"pieces", options_.pieces},
          {"use_bias", options_.use_bias},
          {"kernel_initializer", initializer_to_json(options_.kernel_initializer)},
          {"bias_initializer", initializer_to_json(options_.bias_initializer)}};
}

}  // namespace nnkit
