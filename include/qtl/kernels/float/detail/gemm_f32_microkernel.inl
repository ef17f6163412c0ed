// The float GEMM tile and its driver, written once over the `ops` struct of
// the enclosing namespace (simd_f32.hpp).
//
// No include guard, on purpose: gemm_f32.hpp includes this file inside each
// instruction set's namespace and compiler target region, so the same loops
// are compiled once per ISA with that ISA's code generation (the int8 GEMM
// does the same, see kernels/detail/gemm_int8_microkernel.inl).  Nothing here
// may test ISA macros or include headers.
//
// Expects in scope: <cstddef>, <algorithm>, ops, qtl::kernels::gemm_f32_packed.
//
// Layout (pack_gemm_f32): the weights are cut into panels of nr = 2 * width
// output columns; panel q holds, for every k, the nr weights w[q*nr + j][k]
// next to each other (zero past n), so one k step of a tile is 2 vector loads
// per panel and one broadcast per row.

// Rows [0, MR) of `a` times NP consecutive panels starting at `w`; the result
// (+ bias, clamped) goes to c, of which only the first `cols` columns exist.
template <std::size_t MR, std::size_t NP>
inline void gemm_f32_tile(const float* a, std::size_t lda, const float* w, std::size_t k, const float* bias,
                          typename ops::vec lo, typename ops::vec hi, float* c, std::size_t ldc,
                          std::size_t cols) noexcept {
    using vec = typename ops::vec;
    constexpr std::size_t W = ops::width, NR = 2 * W;
    const std::size_t panel_stride = k * NR;
    vec acc[MR][NP][2];
    for (std::size_t p = 0; p < NP; ++p) {
        const vec b0 = ops::load(bias + p * NR), b1 = ops::load(bias + p * NR + W);
        for (std::size_t r = 0; r < MR; ++r) {
            acc[r][p][0] = b0;
            acc[r][p][1] = b1;
        }
    }
    for (std::size_t kk = 0; kk < k; ++kk) {
        vec b[NP][2];
        for (std::size_t p = 0; p < NP; ++p) {
            b[p][0] = ops::load(w + p * panel_stride + kk * NR);
            b[p][1] = ops::load(w + p * panel_stride + kk * NR + W);
        }
        for (std::size_t r = 0; r < MR; ++r) {
            const vec x = ops::broadcast(a[r * lda + kk]);
            for (std::size_t p = 0; p < NP; ++p) {
                acc[r][p][0] = ops::fmadd(x, b[p][0], acc[r][p][0]);
                acc[r][p][1] = ops::fmadd(x, b[p][1], acc[r][p][1]);
            }
        }
    }
    for (std::size_t r = 0; r < MR; ++r)
        for (std::size_t p = 0; p < NP; ++p) {
            const vec v0 = ops::min(ops::max(acc[r][p][0], lo), hi);
            const vec v1 = ops::min(ops::max(acc[r][p][1], lo), hi);
            const std::size_t col = p * NR;
            float* out = c + r * ldc + col;
            if (col + NR <= cols) {
                ops::store(out, v0);
                ops::store(out + W, v1);
            } else if (col < cols) {  // the last, partial panel
                alignas(64) float tmp[NR];
                ops::store(tmp, v0);
                ops::store(tmp + W, v1);
                std::copy(tmp, tmp + (cols - col), out);
            }
        }
}

// Rows [0, rows) (rows < ops::mr) of `a` against panels [first, first + count).
template <std::size_t MR>
inline void gemm_f32_rows_tail(const gemm_f32_packed& p, const float* a, std::size_t lda, std::size_t first,
                               std::size_t count, typename ops::vec lo, typename ops::vec hi, float* c,
                               std::size_t ldc) noexcept {
    constexpr std::size_t NR = 2 * ops::width;
    // Few rows give few accumulators: take several panels at once so that the
    // FMA chains stay independent enough to hide their latency.
    constexpr std::size_t NP = MR == 1 ? 4 : MR == 2 ? 2 : 1;
    std::size_t q = first;
    for (; q + NP <= first + count; q += NP)
        gemm_f32_tile<MR, NP>(a, lda, p.weights.data() + q * p.k * NR, p.k, p.bias.data() + q * NR, lo, hi,
                              c + q * NR, ldc, p.n - q * NR);
    for (; q < first + count; ++q)
        gemm_f32_tile<MR, 1>(a, lda, p.weights.data() + q * p.k * NR, p.k, p.bias.data() + q * NR, lo, hi,
                             c + q * NR, ldc, p.n - q * NR);
}

// c[m][n] = clamp(a[m][:] . w[n][:] + bias[n]) for every row of a.
inline void gemm_f32_run(const gemm_f32_packed& p, const float* a, std::size_t m, std::size_t lda, float* c,
                         std::size_t ldc) noexcept {
    constexpr std::size_t NR = 2 * ops::width, MR = ops::mr;
    static_assert(MR == 6, "the row-tail switch below assumes 6-row tiles");
    const typename ops::vec lo = ops::broadcast(p.lo), hi = ops::broadcast(p.hi);
    // Blocks of 4 panels (4 * nr columns): a block's weights stay in L2 while
    // every row tile of `a` streams past them.
    constexpr std::size_t block = 4;
    for (std::size_t first = 0; first < p.panels; first += block) {
        const std::size_t count = std::min(block, p.panels - first);
        std::size_t r = 0;
        for (; r + MR <= m; r += MR)
            for (std::size_t q = first; q < first + count; ++q)
                gemm_f32_tile<MR, 1>(a + r * lda, lda, p.weights.data() + q * p.k * NR, p.k, p.bias.data() + q * NR,
                                     lo, hi, c + r * ldc + q * NR, ldc, p.n - q * NR);
        const float* ar = a + r * lda;
        float* cr = c + r * ldc;
        switch (m - r) {
            case 1: gemm_f32_rows_tail<1>(p, ar, lda, first, count, lo, hi, cr, ldc); break;
            case 2: gemm_f32_rows_tail<2>(p, ar, lda, first, count, lo, hi, cr, ldc); break;
            case 3: gemm_f32_rows_tail<3>(p, ar, lda, first, count, lo, hi, cr, ldc); break;
            case 4: gemm_f32_rows_tail<4>(p, ar, lda, first, count, lo, hi, cr, ldc); break;
            case 5: gemm_f32_rows_tail<5>(p, ar, lda, first, count, lo, hi, cr, ldc); break;
            default: break;
        }
    }
}
