// Umbrella header of mixt/expr: expression nodes, functors, broadcasting, evaluation on CPU and CUDA.
#pragma once
#include "evaluate.hpp"
#include "functors.hpp"
#include "launch.hpp"
#include "nodes.hpp"
#include "operators.hpp"
#include "reduce.hpp"
