// mixt: a header-only deep-learning library in the spirit of Apache MXNet. Include this one header.
#pragma once

#include "core/core.hpp"
#include "core/random.hpp"
#include "memory/memory.hpp"
#include "engine/engine.hpp"
#include "ndarray/ndarray.hpp"
#include "expr/expr.hpp"
#include "ndarray/ndarray_impl.hpp"
#include "ndarray/creation.hpp"
#include "ndarray/print.hpp"
#include "ndarray/random.hpp"
#include "ndarray/shape_ops.hpp"
#include "ndarray/rearrange.hpp"
#include "autograd/autograd.hpp"
#include "blas/blas.hpp"
#include "op/op.hpp"
