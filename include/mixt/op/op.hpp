// Umbrella header of mixt/op: the operator library.
#pragma once
#include "activation.hpp"
#include "attrs.hpp"
#include "convolution.hpp"
#include "deconvolution.hpp"
#include "fully_connected.hpp"
#include "operator.hpp"
#include "optimizer_updates.hpp"
#include "pooling.hpp"
#include "regression_output.hpp"
#include "softmax.hpp"
#include "softmax_output.hpp"
