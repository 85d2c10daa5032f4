// Umbrella header of mixt/op: the operator library.
#pragma once
#include "activation.hpp"
#include "attrs.hpp"
#include "fully_connected.hpp"
#include "indexing_ops.hpp"
#include "operator.hpp"
#include "optimizer_updates.hpp"
#include "ordering_ops.hpp"
#include "regression_output.hpp"
#include "shape_ops.hpp"
#include "softmax.hpp"
#include "softmax_output.hpp"
