// Umbrella header of mixt/core: configuration, errors, shapes, dtypes, contexts, the kernel thread pool.
#pragma once
#include "config.hpp"
#include "context.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "half.hpp"
#include "shape.hpp"
#include "thread_pool.hpp"
