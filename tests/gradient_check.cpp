#include "gradient_check.h"

#include <gtest/gtest.h>

#include <cmath>

namespace nnkit::testing {

double relative_error(const std::vector<double>& analytic, const std::vector<double>& numeric) {
  double diff = 0, norm_a = 0, norm_n = 0;
  for (std::size_t i = 0; i < analytic.size(); ++i) {
    diff += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i]);
    norm_a += analytic[i] * analytic[i];
    norm_n += numeric[i] * numeric[i];
  }
  double denom = std::sqrt(norm_a) + std::sqrt(norm_n);
  return denom == 0 ? 0 : std::sqrt(diff) / denom;
}

Tensor random_tensor(const Shape& shape, Rng& rng, float low, float high) {
  Tensor t(shape);
  for (float& v : t) v = rng.uniform(low, high);
  return t;
}

void expect_gradients(const std::function<Tensor(const Tensor&)>& forward,
                      const std::function<Tensor(const Tensor&)>& backward, const Tensor& x,
                      const std::vector<Param*>& params, const GradCheckOptions& options) {
  Rng rng(1234);
  Tensor y = forward(x);
  Tensor r = random_tensor(y.shape(), rng);
  auto loss = [&](const Tensor& input) {
    Tensor out = forward(input);
    double sum = 0;
    for (int64_t i = 0; i < out.size(); ++i) sum += static_cast<double>(r[i]) * out[i];
    return sum;
  };

  for (Param* p : params)
    if (p->trainable) p->grad.zero();
  forward(x);
  Tensor dx = backward(r);

  // Input gradient.
  Tensor xp = x;
  std::vector<double> analytic(dx.begin(), dx.end()), numeric(x.size());
  for (int64_t i = 0; i < x.size(); ++i) {
    float saved = xp[i];
    xp[i] = saved + options.step;
    double up = loss(xp);
    xp[i] = saved - options.step;
    double down = loss(xp);
    xp[i] = saved;
    numeric[i] = (up - down) / (2.0 * options.step);
  }
  ASSERT_EQ(dx.shape(), x.shape()) << "dx has the wrong shape";
  EXPECT_LT(relative_error(analytic, numeric), options.tolerance) << "gradient of the input";

  // Parameter gradients: grads were filled by the backward above.
  for (Param* p : params) {
    if (!p->trainable) continue;
    std::vector<double> a(p->grad.begin(), p->grad.end()), n(p->value.size());
    for (int64_t i = 0; i < p->value.size(); ++i) {
      float saved = p->value[i];
      p->value[i] = saved + options.step;
      double up = loss(x);
      p->value[i] = saved - options.step;
      double down = loss(x);
      p->value[i] = saved;
      n[i] = (up - down) / (2.0 * options.step);
    }
    EXPECT_LT(relative_error(a, n), options.tolerance) << "gradient of parameter " << p->name;
  }
}

void expect_layer_gradients(Layer& layer, const Tensor& x, const GradCheckOptions& options) {
  expect_gradients([&](const Tensor& in) { return layer.forward(in, options.mode); },
                   [&](const Tensor& dy) { return layer.backward(dy); }, x, layer.params(),
                   options);
}

}  // namespace nnkit::testing
