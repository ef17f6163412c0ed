#pragma once
// qtl: the one header users include.

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"

#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier_batch.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"

#include "qtl/quant/choose_params.hpp"
#include "qtl/quant/observers/histogram.hpp"
#include "qtl/quant/observers/histogram_observer.hpp"
#include "qtl/quant/observers/minmax.hpp"
#include "qtl/quant/observers/moving_average.hpp"
#include "qtl/quant/observers/observer.hpp"
#include "qtl/quant/observers/range_selection.hpp"
#include "qtl/quant/quant_params.hpp"
#include "qtl/quant/quantize.hpp"
#include "qtl/quant/scheme.hpp"
#include "qtl/quant/value_range.hpp"

#include "qtl/ops/fused_activation.hpp"
