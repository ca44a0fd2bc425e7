#include "nnkit/layers/zero_padding2d.h"

#include <cmath>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/pool.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

[[noreturn]] void bad_padding(const nlohmann::json& value) {
  throw ValueError(
      fmt::format("ZeroPadding2D: argument 'padding' must be an integer, a pair [rows, columns] or "
                  "[[top, bottom], [left, right]], got {}",
                  value.dump()));
}

// An integer JSON value (100.0 too, as SpecReader takes it), else bad_padding(whole).
int64_t padding_int(const nlohmann::json& value, const nlohmann::json& whole) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      return static_cast<int64_t>(d);
    }
  }
  bad_padding(whole);
}

ZeroPadding2DOptions parse_padding(const nlohmann::json& value) {
  if (value.is_number()) {
    const int64_t p = padding_int(value, value);
    return {p, p, p, p};
  }
  if (!value.is_array() || value.size() != 2) bad_padding(value);
  if (value[0].is_number() && value[1].is_number()) {
    const int64_t rows = padding_int(value[0], value), cols = padding_int(value[1], value);
    return {rows, rows, cols, cols};
  }
  if (value[0].is_array() && value[0].size() == 2 && value[1].is_array() && value[1].size() == 2) {
    return {padding_int(value[0][0], value), padding_int(value[0][1], value),
            padding_int(value[1][0], value), padding_int(value[1][1], value)};
  }
  bad_padding(value);
}

}  // namespace

ZeroPadding2D::ZeroPadding2D(ZeroPadding2DOptions options) : options_(options) {
  if (options_.top < 0 || options_.bottom < 0 || options_.left < 0 || options_.right < 0) {
    throw ValueError(fmt::format("{}: padding must not be negative", who()));
  }
}

std::unique_ptr<Layer> ZeroPadding2D::from_config(const nlohmann::json& config) {
  // SpecReader has no getter for nested lists: it reads a copy with padding set to null, so that
  // it still knows the argument (for its unknown-argument messages), and padding is parsed here.
  nlohmann::json rest = config;
  if (rest.is_object() && rest.contains("padding")) rest["padding"] = nullptr;
  detail::SpecReader args("ZeroPadding2D", rest);
  args.get_optional_int("padding");
  args.finish();
  auto padding = config.find("padding");
  if (padding == config.end() || padding->is_null()) return std::make_unique<ZeroPadding2D>();
  return std::make_unique<ZeroPadding2D>(parse_padding(*padding));
}

std::string ZeroPadding2D::who() const {
  return fmt::format("ZeroPadding2D(padding=[[{}, {}], [{}, {}]])", options_.top, options_.bottom,
                     options_.left, options_.right);
}

Shape ZeroPadding2D::build(const Shape& input, Rng& /*rng*/) {
  if (input.size() != 3) {
    throw ShapeError(fmt::format("{}: expected images [N, C, H, W] (channels first), got input {}",
                                 who(), detail::batch_shape_string(input)));
  }
  built_ = true;
  input_shape_ = input;
  output_shape_ = {input[0], options_.top + input[1] + options_.bottom,
                   options_.left + input[2] + options_.right};
  return output_shape_;
}

Tensor ZeroPadding2D::forward(const Tensor& x, Mode /*mode*/) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
  const int64_t batch = x.dim(0);
  Tensor y = Tensor::uninitialized({batch, output_shape_[0], output_shape_[1], output_shape_[2]});
  zero_pad2d_forward(batch * input_shape_[0], input_shape_[1], input_shape_[2],
                     {options_.top, options_.bottom, options_.left, options_.right}, x.data(),
                     y.data());
  return y;
}

Tensor ZeroPadding2D::backward(const Tensor& dy) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who() + " (backward)", output_shape_, dy);
  const int64_t batch = dy.dim(0);
  Tensor dx = Tensor::uninitialized({batch, input_shape_[0], input_shape_[1], input_shape_[2]});
  zero_pad2d_backward(batch * input_shape_[0], input_shape_[1], input_shape_[2],
                      {options_.top, options_.bottom, options_.left, options_.right}, dy.data(),
                      dx.data());
  return dx;
}

nlohmann::json ZeroPadding2D::config() const {
  return {{"type", "ZeroPadding2D"},
          {"padding", {{options_.top, options_.bottom}, {options_.left, options_.right}}}};
}

}  // namespace nnkit
