// Every layer of nnkit, for users: #include "nnkit/layers.h".
#pragma once

#include "nnkit/layers/activation.h"
#include "nnkit/layers/batch_normalization.h"
#include "nnkit/layers/bidirectional.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/dropout.h"
#include "nnkit/layers/flatten.h"
#include "nnkit/layers/gru.h"
#include "nnkit/layers/layer.h"
#include "nnkit/layers/lstm.h"
#include "nnkit/layers/masking.h"
#include "nnkit/layers/maxout.h"
#include "nnkit/layers/prelu.h"
#include "nnkit/layers/recurrent.h"
#include "nnkit/layers/registry.h"
#include "nnkit/layers/reshape.h"
#include "nnkit/layers/simple_rnn.h"
