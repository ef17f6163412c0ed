// Uses the installed qtl through its umbrella header only.
#include <qtl/qtl.hpp>

#include <cstdio>

int main() {
    // [-1, 3] -> scale 4/255, zero point -64 (TFLite's rule, computed by hand)
    const auto p = qtl::choose_params<qtl::int8_activation>(qtl::value_range{-1.0f, 3.0f});
    const auto q = qtl::quantize<qtl::int8_activation>(xt::xarray<float>{-1.0f, 1.0f, 3.0f}, p);
    const bool ok = p.zero_points[0] == -64 && q(0) == -128 && q(1) == 0 && q(2) == 127 &&
                    qtl::multiply_by_quantized_multiplier(1000, qtl::quantize_multiplier(0.5)) == 500;
    std::printf("qtl consumer: %s\n", ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
