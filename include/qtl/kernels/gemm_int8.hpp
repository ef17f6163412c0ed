#pragma once
// int8 GEMM for FULLY_CONNECTED and 1x1 CONV_2D, TFLite semantics, bit-exact
// with the scalar formula
//
//   out[m][n] = requantize(sum_k (a[m][k] - a_zp) * w[n][k] + bias[n])
//
// (qtl::requantize<int8_t, Policy>: per-tensor or per-channel multiplier,
// output zero point, activation clamp).
//
//   auto packed = kernels::pack_gemm_int8(spec);             // once (prepare)
//   kernels::gemm_int8(packed, a, m, lda, out, ldc);         // every eval
//
// Kernels: AVX-512 VNNI, AVX-VNNI, AVX2, scalar.  Every SIMD kernel is
// compiled in a GCC/clang target region, so any x86-64 build carries all of
// them; pack_gemm_int8(spec) picks the best one this CPU runs (CPUID + XCR0,
// once).  The compile target decides only the epilogue: fused on the
// accumulator registers when the target has the kernel's registers
// (-march=native on an AVX-512 machine fuses the AVX-512 epilogue), through a
// small buffer and qtl's array requantize stage otherwise.  Both are the same
// fixed-point stage, so every combination gives the same bytes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <thread>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/extern_executors.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/gemm_int8_avx2.hpp"
#include "qtl/kernels/gemm_int8_avx512_vnni.hpp"
#include "qtl/kernels/gemm_int8_avx_vnni.hpp"
#include "qtl/kernels/gemm_int8_packing.hpp"
#include "qtl/kernels/gemm_int8_scalar.hpp"

namespace qtl::kernels {

// The kernel is in this build.
constexpr bool gemm_int8_isa_compiled(gemm_int8_isa isa) noexcept {
    switch (isa) {
        case gemm_int8_isa::scalar: return true;
        case gemm_int8_isa::avx2: return QTL_GEMM_INT8_AVX2 != 0;
        case gemm_int8_isa::avx_vnni: return QTL_GEMM_INT8_AVX_VNNI != 0;
        case gemm_int8_isa::avx512_vnni: return QTL_GEMM_INT8_AVX512_VNNI != 0;
    }
    return false;
}

// The kernel is in this build and this CPU (and OS) runs it.
inline bool gemm_int8_isa_supported(gemm_int8_isa isa) noexcept {
    const cpu_features& f = host_cpu_features();
    if (!gemm_int8_isa_compiled(isa)) return false;
    switch (isa) {
        case gemm_int8_isa::scalar: return true;
        case gemm_int8_isa::avx2: return f.avx2;
        case gemm_int8_isa::avx_vnni: return f.avx2 && f.avx_vnni;
        case gemm_int8_isa::avx512_vnni: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni;
    }
    return false;
}

inline gemm_int8_isa best_gemm_int8_isa() noexcept {
    for (gemm_int8_isa isa : {gemm_int8_isa::avx512_vnni, gemm_int8_isa::avx_vnni, gemm_int8_isa::avx2})
        if (gemm_int8_isa_supported(isa)) return isa;
    return gemm_int8_isa::scalar;
}

// Packs for the best kernel this machine runs.
inline gemm_int8_packed pack_gemm_int8(const gemm_int8_spec& spec) {
    return pack_gemm_int8(spec, best_gemm_int8_isa());
}

struct gemm_int8_options {
    // Column blocks are split over this many threads (std::thread); every
    // output byte is computed by exactly the same code, so results do not
    // depend on it.
    unsigned threads = 1;
    // At least gemm_int8_scratch_bytes(packed, m) bytes, 64-byte aligned, for
    // the activations in the kernel's form.  Empty: a buffer per calling
    // thread, grown on demand and reused (no allocation in steady state).
    std::span<std::byte> scratch = {};
};

inline std::size_t gemm_int8_scratch_bytes(const gemm_int8_packed& packed, std::size_t m) noexcept {
    return m * packed.k_padded() * (packed.geometry.a_int16 ? sizeof(std::int16_t) : sizeof(std::uint8_t));
}

namespace detail {

// Target size of the activation rows one pass over the column blocks reads.
inline constexpr std::size_t gemm_int8_row_chunk_bytes = 32 * 1024;

inline std::vector<std::byte, aligned_allocator<std::byte>>& gemm_int8_thread_scratch() {
    thread_local std::vector<std::byte, aligned_allocator<std::byte>> buffer;
    return buffer;
}

// Runs column blocks [begin, end): p.isa's kernel, or (Emulated) the
// portable code over p.isa's layout.  Only the emulation instantiates the
// portable code for every layout.
template <class Policy, bool Emulated>
void gemm_int8_run_blocks(const gemm_int8_packed& p, const void* a, std::size_t m, std::int8_t* out,
                          std::size_t ldc, std::size_t begin, std::size_t end) {
    if constexpr (!Emulated) {
        switch (p.isa) {
#if QTL_GEMM_INT8_AVX512_VNNI
            case gemm_int8_isa::avx512_vnni:
                return avx512_vnni::gemm_int8_blocks_avx512_vnni<Policy>(p, a, m, out, ldc, begin, end);
#endif
#if QTL_GEMM_INT8_AVX_VNNI
            case gemm_int8_isa::avx_vnni:
                return avx_vnni::gemm_int8_blocks_avx_vnni<Policy>(p, a, m, out, ldc, begin, end);
#endif
#if QTL_GEMM_INT8_AVX2
            case gemm_int8_isa::avx2: return avx2::gemm_int8_blocks_avx2<Policy>(p, a, m, out, ldc, begin, end);
#endif
            default:  // scalar (gemm_int8 refused kernels this build lacks)
                return scalar::gemm_int8_blocks_portable<gemm_int8_isa::scalar, Policy>(p, a, m, out, ldc, begin, end);
        }
    } else {
        switch (p.isa) {
            case gemm_int8_isa::scalar:
                return scalar::gemm_int8_blocks_portable<gemm_int8_isa::scalar, Policy>(p, a, m, out, ldc, begin, end);
            case gemm_int8_isa::avx2:
                return scalar::gemm_int8_blocks_portable<gemm_int8_isa::avx2, Policy>(p, a, m, out, ldc, begin, end);
            case gemm_int8_isa::avx_vnni:
                return scalar::gemm_int8_blocks_portable<gemm_int8_isa::avx_vnni, Policy>(p, a, m, out, ldc, begin,
                                                                                          end);
            case gemm_int8_isa::avx512_vnni:
                return scalar::gemm_int8_blocks_portable<gemm_int8_isa::avx512_vnni, Policy>(p, a, m, out, ldc, begin,
                                                                                             end);
        }
    }
}

// Packs activation rows with p.isa's own vectors; false where the kernel has
// none (scalar), for the portable pack_gemm_int8_activations.
inline bool gemm_int8_pack_activations_simd(const gemm_int8_packed& p, const std::int8_t* a, std::size_t m,
                                            std::size_t lda, std::byte* dst) noexcept {
    switch (p.isa) {
#if QTL_GEMM_INT8_AVX512_VNNI
        case gemm_int8_isa::avx512_vnni:
            avx512_vnni::gemm_int8_pack_activations_avx512_vnni(a, m, lda, p.k, p.k_padded(), dst);
            return true;
#endif
#if QTL_GEMM_INT8_AVX_VNNI
        case gemm_int8_isa::avx_vnni:
            avx_vnni::gemm_int8_pack_activations_avx_vnni(a, m, lda, p.k, p.k_padded(), dst);
            return true;
#endif
#if QTL_GEMM_INT8_AVX2
        case gemm_int8_isa::avx2: avx2::gemm_int8_pack_activations_avx2(a, m, lda, p.k, p.k_padded(), dst); return true;
#endif
        default: return false;
    }
}

template <class Policy, bool Emulated>
void gemm_int8_with(const gemm_int8_packed& p, const std::int8_t* a, std::size_t m,
                    std::size_t lda, std::int8_t* out, std::size_t ldc, const gemm_int8_options& options) {
    const char* where = "gemm_int8";
    if (m == 0) return;
    check(p.k > 0 && p.n > 0 && !p.weights.empty(), where, "the packed weights are empty (pack_gemm_int8 first)");
    check(a != nullptr && out != nullptr, where, "activation and output pointers must not be null");
    check(lda >= p.k, where, "activation row stride must be >= k = ", p.k, ", got ", lda);
    check(ldc >= p.n, where, "output row stride must be >= n = ", p.n, ", got ", ldc);
    check(options.threads >= 1, where, "threads must be >= 1, got 0");
    const std::size_t bytes = gemm_int8_scratch_bytes(p, m);
    std::byte* scratch = nullptr;
    if (options.scratch.empty()) {
        auto& buffer = gemm_int8_thread_scratch();
        if (buffer.size() < bytes) buffer.resize(bytes);
        scratch = buffer.data();
    } else {
        check(options.scratch.size() >= bytes, where, "scratch must hold ", bytes, " bytes for m = ", m, ", got ",
              options.scratch.size());
        check(reinterpret_cast<std::uintptr_t>(options.scratch.data()) % 64 == 0, where,
              "scratch must be 64-byte aligned");
        scratch = options.scratch.data();
    }

    // Rows go through the column blocks a chunk at a time (activation rows of
    // about 32 KiB): every block re-reads the chunk's rows and writes into its
    // output rows, which then stay in L1/L2.  All rows through each block in
    // turn instead stream both from L2/L3 once per block (112x112x16 -> 96:
    // 400 KB of int16 rows and 1.2 MB of output, 6 times).  Measured on AVX2:
    // fc_384x768x768 5% and MobileNetV2 2-3% faster.
    const gemm_int8_geometry& g = p.geometry;
    const std::size_t row_bytes = p.k_padded() * (g.a_int16 ? sizeof(std::int16_t) : sizeof(std::uint8_t));
    const std::size_t tile_rows = static_cast<std::size_t>(g.tile_rows);
    const std::size_t chunk = std::max<std::size_t>(gemm_int8_row_chunk_bytes / row_bytes / tile_rows, 1) * tile_rows;
    const auto pack = [&](std::size_t row0, std::size_t rows, std::byte* dst) {
        if constexpr (!Emulated)
            if (gemm_int8_pack_activations_simd(p, a + row0 * lda, rows, lda, dst)) return;
        if (g.a_int16)
            pack_gemm_int8_activations(a + row0 * lda, rows, lda, p.k, p.k_padded(), g.a_offset,
                                       reinterpret_cast<std::int16_t*>(dst));
        else
            pack_gemm_int8_activations(a + row0 * lda, rows, lda, p.k, p.k_padded(), g.a_offset,
                                       reinterpret_cast<std::uint8_t*>(dst));
    };

    const std::size_t threads = std::min<std::size_t>(options.threads, p.blocks);
    if (threads <= 1) {
        for (std::size_t row0 = 0; row0 < m; row0 += chunk) {
            const std::size_t rows = std::min(chunk, m - row0);
            pack(row0, rows, scratch);
            gemm_int8_run_blocks<Policy, Emulated>(p, scratch, rows, out + row0 * ldc, ldc, 0, p.blocks);
        }
        return;
    }
    // Threads split the column blocks; each walks the (shared, packed once) rows by chunks.
    pack(0, m, scratch);
    const auto run = [&](std::size_t begin, std::size_t end) {
        for (std::size_t row0 = 0; row0 < m; row0 += chunk)
            gemm_int8_run_blocks<Policy, Emulated>(p, scratch + row0 * row_bytes, std::min(chunk, m - row0),
                                                   out + row0 * ldc, ldc, begin, end);
    };
    std::vector<std::thread> workers;
    workers.reserve(threads - 1);
    const auto first_block = [&](std::size_t t) { return p.blocks * t / threads; };
    for (std::size_t t = 1; t < threads; ++t) workers.emplace_back([&, t] { run(first_block(t), first_block(t + 1)); });
    run(0, first_block(1));
    for (auto& w : workers) w.join();
}

}  // namespace detail

// out[r * ldc + c] for r < m, c < n, from activations a[r * lda + kk].
// Throws qtl::error when the packing's kernel cannot run on this CPU, or on
// bad strides / scratch.  The multipliers must come from
// quantize_multiplier<Policy>.
template <rounding_policy Policy = double_rounding>
void gemm_int8(const gemm_int8_packed& packed, const std::int8_t* a, std::size_t m, std::size_t lda,
               std::int8_t* out, std::size_t ldc, const gemm_int8_options& options = {}) {
    check(gemm_int8_isa_supported(packed.isa), "gemm_int8", "the weights are packed for the ",
          to_string(packed.isa), " kernel, which this ",
          gemm_int8_isa_compiled(packed.isa) ? "CPU cannot run" : "build does not contain",
          " (pack for best_gemm_int8_isa())");
    detail::gemm_int8_with<Policy, false>(packed, a, m, lda, out, ldc, options);
}

// The portable code replaying packed's kernel (its layout, tiles, tails and
// the array requantize stage) on any machine: what tests use to check a
// kernel's logic where its instructions are missing.
template <rounding_policy Policy = double_rounding>
void gemm_int8_emulated(const gemm_int8_packed& packed, const std::int8_t* a, std::size_t m, std::size_t lda,
                        std::int8_t* out, std::size_t ldc, const gemm_int8_options& options = {}) {
    detail::gemm_int8_with<Policy, true>(packed, a, m, lda, out, ldc, options);
}

#if defined(QTL_KERNEL_INSTANCE)  // compiled once with the executors (qtl/core/extern_executors.hpp)
QTL_KERNEL_INSTANCE void gemm_int8<double_rounding>(const gemm_int8_packed&, const std::int8_t*, std::size_t,
                                                    std::size_t, std::int8_t*, std::size_t, const gemm_int8_options&);
QTL_KERNEL_INSTANCE void gemm_int8<single_rounding>(const gemm_int8_packed&, const std::int8_t*, std::size_t,
                                                    std::size_t, std::int8_t*, std::size_t, const gemm_int8_options&);
#endif

}  // namespace qtl::kernels
