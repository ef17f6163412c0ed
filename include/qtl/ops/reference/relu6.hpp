#pragma once
// Reference RELU6: RELU6 prepares into relu_prepared<T>, so its reference is
// RELU's (reference/relu.hpp).

#include "qtl/ops/reference/relu.hpp"
#include "qtl/ops/relu6.hpp"
