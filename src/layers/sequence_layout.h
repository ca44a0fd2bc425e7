// Helpers shared by the recurrent layers (SimpleRNN, GRU): batch-major sequences [batch, steps,
// width] to and from time-major [steps, batch, width], the layout in which one step's rows are
// contiguous (one GEMM per step) and all steps' rows form one matrix (one GEMM for all steps);
// masked rows; input checks; buffers kept across batches. Private to src/layers/.
#pragma once

#include <cstdint>
#include <string>

#include "nnkit/kernels/activations.h"
#include "nnkit/tensor.h"

namespace nnkit::detail {

// out[s, b, :] = x[b, t, :] with t = s, or t = steps − 1 − s when reverse (go_backwards).
void to_time_major(int64_t batch, int64_t steps, int64_t width, bool reverse, const float* x,
                   float* out);
// The inverse: out[b, t, :] = x[s, b, :] with the same t(s).
void from_time_major(int64_t batch, int64_t steps, int64_t width, bool reverse, const float* x,
                     float* out);
// acc[b, :] += seq[b, step, :] for a batch-major seq [batch, steps, width], acc [batch, width].
void add_step(int64_t batch, int64_t steps, int64_t width, int64_t step, const float* seq,
              float* acc);

// Masks, one step's [batch] of 1 (data) and 0 (padding). Padded rows keep the previous state:
// out[b, :] = prev[b, :] where mask[b] == 0 (forward: h_s = h_{s−1}; backward: dh passes to
// step s − 1 unchanged).
void carry_masked_rows(int64_t batch, int64_t width, const float* mask, const float* prev,
                       float* out);
// Padded rows get no gradient: rows[b, :] = 0 where mask[b] == 0.
void zero_masked_rows(int64_t batch, int64_t width, const float* mask, float* rows);

// The layers' reference loops (forward_reference, backward_reference): whether sample n holds
// data at input step t of a mask [N, T] (an empty mask: always), and a check that throws
// ShapeError unless each given (non-empty) tensor fits x: initial and dfinal [N, units], mask
// [N, T].
bool reference_holds_data(const Tensor& mask, int64_t n, int64_t steps, int64_t t);
void check_reference_state(const std::string& who, const Tensor& x, int64_t units,
                           const Tensor& initial, const Tensor& mask, const Tensor& dfinal);

// Gives t the shape (values unset) unless it has it already: buffers are reallocated only when
// the batch size or the number of steps changes.
void ensure_shape(Tensor& t, const Shape& shape);

// build(): throws ShapeError unless the per-sample input is [steps, features], both positive.
void check_sequence_shape(const std::string& who, const Shape& input);
// forward(): throws ShapeError unless x is [batch, steps, features] with the built features and
// any steps >= 1 (the weights do not depend on the number of steps).
void check_sequence_input(const std::string& who, int64_t features, const Tensor& x);

// activation_from_name() for a recurrent layer's `argument`, naming the layer; throws ValueError
// for softmax too: the gates are computed element-wise.
Activation parse_elementwise_activation(const std::string& who, const std::string& argument,
                                        const std::string& name);

}  // namespace nnkit::detail
