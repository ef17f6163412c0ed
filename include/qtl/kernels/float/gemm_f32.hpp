#pragma once
// Float GEMM for FULLY_CONNECTED and CONV_2D (through im2col):
//
//   c[m][n] = clamp(sum_k a[m][k] * w[n][k] + bias[n], lo, hi)
//
// with w in TFLite's [out, in] layout.  The weights are packed once into
// panels of 2 vectors of output columns (pack_gemm_f32), then every call runs
// register-blocked tiles of 6 rows x 2 vectors (fewer rows take several
// panels at once), for the best instruction set this CPU runs:
//
//   auto packed = kernels::pack_gemm_f32(w, n, k, bias, lo, hi);   // prepare
//   kernels::gemm_f32(packed, a, m, lda, c, ldc);                  // eval

#include <algorithm>
#include <cstddef>
#include <limits>
#include <span>

#include "qtl/core/error.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/target_region.hpp"
#include "qtl/kernels/float/simd_f32.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::kernels {

struct gemm_f32_packed {
    float_isa isa = float_isa::portable;
    std::size_t k = 0, n = 0;
    std::size_t nr = 0;      // columns per panel (2 vectors of the isa)
    std::size_t panels = 0;  // ceil(n / nr)
    float_buffer weights;    // panels * k * nr, zero past n
    float_buffer bias;       // panels * nr, zero past n (and where there is no bias)
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
};

// Columns per panel of the isa's kernel.
inline std::size_t gemm_f32_panel_width(float_isa isa) noexcept {
    if (isa == float_isa::avx2_fma) return 16;
    return 2 * xsimd::batch<float, xsimd::default_arch>::size;
}

// w: n rows of k floats ([out, in]); bias: n floats or empty; the output is
// clamped to [lo, hi] (a fused activation; +-inf for none).
inline gemm_f32_packed pack_gemm_f32(std::span<const float> w, std::size_t n, std::size_t k,
                                     std::span<const float> bias,
                                     float lo = -std::numeric_limits<float>::infinity(),
                                     float hi = std::numeric_limits<float>::infinity(),
                                     float_isa isa = best_float_isa()) {
    const char* where = "pack_gemm_f32";
    check(n > 0 && k > 0, where, "n and k must be > 0, got n = ", n, ", k = ", k);
    check(w.size() == n * k, where, "weights hold ", w.size(), " floats, expected n * k = ", n * k);
    check(bias.empty() || bias.size() == n, where, "bias holds ", bias.size(), " floats, expected 0 or n = ", n);
    check(!(lo > hi), where, "clamp range [", lo, ", ", hi, "] is empty");
    check(float_isa_supported(isa), where, "the ", to_string(isa), " kernel cannot run here");
    gemm_f32_packed p;
    p.isa = isa;
    p.k = k;
    p.n = n;
    p.nr = gemm_f32_panel_width(isa);
    p.panels = (n + p.nr - 1) / p.nr;
    p.lo = lo;
    p.hi = hi;
    p.weights.assign(p.panels * k * p.nr, 0.0f);
    p.bias.assign(p.panels * p.nr, 0.0f);
    for (std::size_t col = 0; col < n; ++col) {
        const std::size_t q = col / p.nr, j = col % p.nr;
        float* panel = p.weights.data() + q * k * p.nr;
        for (std::size_t kk = 0; kk < k; ++kk) panel[kk * p.nr + j] = w[col * k + kk];
        if (!bias.empty()) p.bias[col] = bias[col];
    }
    return p;
}

namespace f32_portable {
#include "qtl/kernels/float/detail/gemm_f32_microkernel.inl"
}  // namespace f32_portable

#if QTL_FLOAT_KERNELS_AVX2
QTL_DETAIL_TARGET_BEGIN("avx2,fma")
namespace f32_avx2 {
#include "qtl/kernels/float/detail/gemm_f32_microkernel.inl"
}  // namespace f32_avx2
QTL_DETAIL_TARGET_END
#endif

// c[r * ldc + col] for r < m, col < n, from a[r * lda + kk].
inline void gemm_f32(const gemm_f32_packed& p, const float* a, std::size_t m, std::size_t lda, float* c,
                     std::size_t ldc) {
    const char* where = "gemm_f32";
    if (m == 0) return;
    check(p.k > 0 && p.n > 0 && p.weights.size() == p.panels * p.k * p.nr, where,
          "the packed weights are empty (pack_gemm_f32 first)");
    check(a != nullptr && c != nullptr, where, "input and output pointers must not be null");
    check(lda >= p.k, where, "input row stride must be >= k = ", p.k, ", got ", lda);
    check(ldc >= p.n, where, "output row stride must be >= n = ", p.n, ", got ", ldc);
#if QTL_FLOAT_KERNELS_AVX2
    if (p.isa == float_isa::avx2_fma) {
        check(float_isa_supported(p.isa), where, "packed for avx2_fma, which this CPU cannot run");
        return f32_avx2::gemm_f32_run(p, a, m, lda, c, ldc);
    }
#endif
    check(p.isa == float_isa::portable && p.nr == gemm_f32_panel_width(float_isa::portable), where,
          "packed for the ", to_string(p.isa), " kernel, which this build does not contain");
    f32_portable::gemm_f32_run(p, a, m, lda, c, ldc);
}

}  // namespace qtl::kernels

QTL_DETAIL_GCC_BUG_105593_END
