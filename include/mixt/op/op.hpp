// Umbrella header of mixt/op: the operator library.
#pragma once
#include "activation.hpp"
#include "attrs.hpp"
#include "batch_norm.hpp"
#include "dropout.hpp"
#include "embedding.hpp"
#include "fully_connected.hpp"
#include "layer_norm.hpp"
#include "operator.hpp"
#include "optimizer_updates.hpp"
#include "regression_output.hpp"
#include "softmax.hpp"
#include "softmax_output.hpp"
