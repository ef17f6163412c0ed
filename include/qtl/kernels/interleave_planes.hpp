#pragma once
// Interleaving a few byte planes:
//
//   out[r * planes + c] = in[c * plane_stride + r],  r < rows, c < planes
//
// the NCHW -> NHWC TRANSPOSE of an image input (3 planes for RGB, as in
// MobileNetV2 exported from PyTorch), which a tiled transpose moves a byte at
// a time.  For 2 to 4 planes, on AVX2 CPUs (any x86-64 build: the kernel
// carries its own target region), 16 rows a step: output vector k of a step
// is the OR of one PSHUFB of each plane's 16 bytes, which puts plane c's
// byte r at output byte r * planes + c - 16k (masks built once a call).
// Elsewhere, and for the last rows, a plain loop.

#include <cstddef>
#include <cstdint>

#include "qtl/detail/target_region.hpp"
#include "qtl/kernels/cpu_features.hpp"

#if QTL_KERNELS_X86_TARGETS
#include <immintrin.h>
#endif

namespace qtl::kernels {

inline constexpr std::size_t interleave_planes_max_vector_planes = 4;

namespace detail::interleave {

inline void interleave_portable(const std::int8_t* in, std::size_t plane_stride, std::int8_t* out, std::size_t rows,
                                std::size_t planes) noexcept {
    for (std::size_t c = 0; c < planes; ++c) {
        const std::int8_t* plane = in + c * plane_stride;
        for (std::size_t r = 0; r < rows; ++r) out[r * planes + c] = plane[r];
    }
}

}  // namespace detail::interleave
}  // namespace qtl::kernels

#if QTL_KERNELS_X86_TARGETS
QTL_DETAIL_TARGET_BEGIN("avx2")

namespace qtl::kernels::detail::interleave {

template <std::size_t Planes>
void interleave_avx2(const std::int8_t* in, std::size_t plane_stride, std::int8_t* out, std::size_t rows) noexcept {
    // mask[k][c]: for output byte i of vector k, plane c's byte (16k + i) / Planes, or 0x80 (zero) where
    // that output byte belongs to another plane.
    __m128i mask[Planes][Planes];
    for (std::size_t k = 0; k < Planes; ++k)
        for (std::size_t c = 0; c < Planes; ++c) {
            alignas(16) std::int8_t m[16];
            for (std::size_t i = 0; i < 16; ++i) {
                const std::size_t o = 16 * k + i;
                m[i] = o % Planes == c ? static_cast<std::int8_t>(o / Planes) : std::int8_t{-128};
            }
            mask[k][c] = _mm_load_si128(reinterpret_cast<const __m128i*>(m));
        }
    std::size_t r = 0;
    for (; r + 16 <= rows; r += 16) {
        __m128i v[Planes];
#pragma GCC unroll 4
        for (std::size_t c = 0; c < Planes; ++c)
            v[c] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + c * plane_stride + r));
#pragma GCC unroll 4
        for (std::size_t k = 0; k < Planes; ++k) {
            __m128i bytes = _mm_shuffle_epi8(v[0], mask[k][0]);
#pragma GCC unroll 4
            for (std::size_t c = 1; c < Planes; ++c) bytes = _mm_or_si128(bytes, _mm_shuffle_epi8(v[c], mask[k][c]));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + r * Planes + 16 * k), bytes);
        }
    }
    interleave_portable(in + r, plane_stride, out + r * Planes, rows - r, Planes);
}

}  // namespace qtl::kernels::detail::interleave

QTL_DETAIL_TARGET_END
#endif  // QTL_KERNELS_X86_TARGETS

namespace qtl::kernels {

// Whether interleave_planes takes the vector kernel for `planes` planes here.
inline bool interleave_planes_vectorized(std::size_t planes) noexcept {
#if QTL_KERNELS_X86_TARGETS
    return planes >= 2 && planes <= interleave_planes_max_vector_planes && host_cpu_features().avx2;
#else
    (void)planes;
    return false;
#endif
}

// out[r * planes + c] = in[c * plane_stride + r] for r < rows, c < planes.
// `out` must not overlap the planes.
inline void interleave_planes(const std::int8_t* in, std::size_t plane_stride, std::int8_t* out, std::size_t rows,
                              std::size_t planes) noexcept {
#if QTL_KERNELS_X86_TARGETS
    if (interleave_planes_vectorized(planes)) {
        switch (planes) {
            case 2: return detail::interleave::interleave_avx2<2>(in, plane_stride, out, rows);
            case 3: return detail::interleave::interleave_avx2<3>(in, plane_stride, out, rows);
            default: return detail::interleave::interleave_avx2<4>(in, plane_stride, out, rows);
        }
    }
#endif
    detail::interleave::interleave_portable(in, plane_stride, out, rows, planes);
}

}  // namespace qtl::kernels
