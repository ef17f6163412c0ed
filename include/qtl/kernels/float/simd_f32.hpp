#pragma once
// The float kernels' vector vocabulary: which instruction set runs them
// (float_isa, picked once by CPUID), 64-byte aligned float storage for packed
// weights, and one `ops` struct per instruction set that the kernel bodies
// (kernels/float/detail/*.inl) are written against:
//
//   vec, width, mr (rows of a GEMM tile), zero, load, store, broadcast,
//   fmadd(a, b, c) = a * b + c, min, max
//
// f32_portable::ops is xsimd's batch<float> for the build's default arch
// (SSE2 in a plain x86-64 build, AVX2+FMA under -march=native, NEON on ARM).
// f32_avx2::ops is AVX2+FMA compiled in a GCC/clang target region, so a plain
// x86-64 build also carries it and the kernels pick it at run time, as the
// int8 GEMM does (gemm_int8_avx2.hpp); xsimd's avx2 batch is not usable there
// because xsimd compiles its avx2 code only when the build targets AVX2.

#include <cstddef>
#include <new>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/target_region.hpp"
#include "qtl/kernels/cpu_features.hpp"

#if QTL_KERNELS_X86_TARGETS
#include <immintrin.h>
#define QTL_FLOAT_KERNELS_AVX2 1
#else
#define QTL_FLOAT_KERNELS_AVX2 0
#endif

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::kernels {

enum class float_isa { portable, avx2_fma };

inline const char* to_string(float_isa isa) noexcept {
    return isa == float_isa::avx2_fma ? "avx2_fma" : "portable";
}

// The kernel is in this build and this CPU (and OS) runs it.
inline bool float_isa_supported(float_isa isa) noexcept {
    if (isa == float_isa::portable) return true;
#if QTL_FLOAT_KERNELS_AVX2
    return host_cpu_features().avx2 && host_cpu_features().fma;
#else
    return false;
#endif
}

inline float_isa best_float_isa() noexcept {
    return float_isa_supported(float_isa::avx2_fma) ? float_isa::avx2_fma : float_isa::portable;
}

// 64-byte aligned allocation, so packed weight rows never split a cache line.
template <class T>
struct float_kernel_allocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = float_kernel_allocator<U>;
    };
    float_kernel_allocator() noexcept = default;
    template <class U>
    float_kernel_allocator(const float_kernel_allocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{64}); }
    template <class U>
    friend bool operator==(const float_kernel_allocator&, const float_kernel_allocator<U>&) noexcept {
        return true;
    }
};

using float_buffer = std::vector<float, float_kernel_allocator<float>>;

}  // namespace qtl::kernels

namespace qtl::kernels::f32_portable {

struct ops {
    using vec = xsimd::batch<float, xsimd::default_arch>;
    static constexpr std::size_t width = vec::size;
    static constexpr std::size_t mr = 6;  // 6 x 2 accumulators + 2 weights + 1 broadcast fit 16 registers

    static vec zero() noexcept { return vec(0.0f); }
    static vec load(const float* p) noexcept { return vec::load_unaligned(p); }
    static void store(float* p, vec v) noexcept { v.store_unaligned(p); }
    static vec broadcast(float x) noexcept { return vec(x); }
    static vec fmadd(vec a, vec b, vec c) noexcept { return xsimd::fma(a, b, c); }
    static vec min(vec a, vec b) noexcept { return xsimd::min(a, b); }
    static vec max(vec a, vec b) noexcept { return xsimd::max(a, b); }
};

}  // namespace qtl::kernels::f32_portable

#if QTL_FLOAT_KERNELS_AVX2
QTL_DETAIL_TARGET_BEGIN("avx2,fma")

namespace qtl::kernels::f32_avx2 {

struct ops {
    using vec = __m256;
    static constexpr std::size_t width = 8;
    static constexpr std::size_t mr = 6;

    static vec zero() noexcept { return _mm256_setzero_ps(); }
    static vec load(const float* p) noexcept { return _mm256_loadu_ps(p); }
    static void store(float* p, vec v) noexcept { _mm256_storeu_ps(p, v); }
    static vec broadcast(float x) noexcept { return _mm256_set1_ps(x); }
    static vec fmadd(vec a, vec b, vec c) noexcept { return _mm256_fmadd_ps(a, b, c); }
    static vec min(vec a, vec b) noexcept { return _mm256_min_ps(a, b); }
    static vec max(vec a, vec b) noexcept { return _mm256_max_ps(a, b); }
};

}  // namespace qtl::kernels::f32_avx2

QTL_DETAIL_TARGET_END
#endif  // QTL_FLOAT_KERNELS_AVX2

QTL_DETAIL_GCC_BUG_105593_END
