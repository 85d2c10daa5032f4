// Umbrella header of mixt/memory: pooled allocators and storage chunks.
#pragma once
#include "chunk.hpp"
#include "copy.hpp"
#include "cpu_allocator.hpp"
#include "pool.hpp"
