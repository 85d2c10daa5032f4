// Umbrella header of mixt/autograd: record / pause scopes, attach_grad, backward, grad.
#pragma once
#include "backward.hpp"
#include "program_derivatives.hpp"
#include "node.hpp"
#include "record.hpp"
#include "state.hpp"
