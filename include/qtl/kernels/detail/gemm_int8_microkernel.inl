// The int8 GEMM micro-kernels and their driver, written once over an `Ops`
// type that supplies the vector type and five operations (zero,
// load_weights, broadcast, dot, add) plus store_int32, and optionally
// keep_in_register (an empty asm that stops a load being folded into its
// uses) and prefetch_weights (the one-row kernel's software prefetch), with
// the geometry of gemm_int8_packing.hpp.
//
// No include guard, on purpose: each instruction set includes this file
// inside its own namespace and compiler target region (see
// gemm_int8_avx512_vnni.hpp), so the same loops are compiled once per ISA
// with that ISA's code generation; a template alone cannot carry a target
// attribute that depends on its parameter.  Nothing here may test ISA macros
// (GCC's target pragma redefines them inside the region) or include headers.
//
// Expects in scope: <cstddef>, <cstdint>, <algorithm>, <array>, <utility>,
// qtl::kernels::gemm_int8_packed, gemm_int8_pixel_grid and qtl requantize_n /
// requantize_channels_n.

// Requantizes through memory: the accumulator is stored, biased and handed
// to qtl's array requantize stage (the build's default xsimd arch).  Used
// where the build target lacks the kernel's registers for an xsimd batch
// (a kernel picked at run time) and by the scalar kernel.
template <class Ops, class Policy, bool PerChannel>
struct spill_epilogue {
    const gemm_int8_packed& packed;

    explicit spill_epilogue(const gemm_int8_packed& p) noexcept : packed(p) {}

    // Out of line: one copy of the requantize stage per kernel, not one per tile shape.
    QTL_KERNELS_NOINLINE void store(typename Ops::vec acc, std::size_t col, std::int8_t* out, std::size_t count) const {
        alignas(64) std::int32_t values[Ops::lanes];
        Ops::store_int32(values, acc);
        for (std::size_t i = 0; i < count; ++i)
            values[i] = ::qtl::kernels::detail::wrapping_add(values[i], packed.bias[col + i]);
        if constexpr (PerChannel) {
            ::qtl::requantize_channels_n<std::int8_t, Policy>(values, count, packed.multipliers.data() + col,
                                                             packed.shifts.data() + col, count, packed.output, out);
        } else {
            ::qtl::requantize_n<std::int8_t, Policy>(values, count, packed.multiplier, packed.output, out);
        }
    }
};

// Where the epilogue has initial(col), the accumulators of columns [col,
// col + lanes) start from it (the AVX-512 epilogue's bias: one add fewer per
// vector in the epilogue, 72.7 -> 69.9 us on the first layer's GEMM, 12544 x
// 27 -> 32, AMD Zen 5, the two kernels alternating in one process); else
// from zero.  Called as (initial_accumulator<Ops>): no argument-dependent
// lookup, which would also find the one of the ISA whose epilogue it is.
template <class Ops, class Epilogue>
typename Ops::vec initial_accumulator(const Epilogue& epilogue, std::size_t col) noexcept {
    if constexpr (requires { epilogue.initial(col); })
        return epilogue.initial(col);
    else
        return Ops::zero();
}

// A tile's accumulators, each vector of columns started from initial_accumulator.
template <class Ops, int Rows, int Vectors, class Epilogue>
QTL_KERNELS_ALWAYS_INLINE void gemm_int8_start_tile(typename Ops::vec (&acc)[Rows][Vectors], const Epilogue& epilogue,
                                                    std::size_t col) noexcept {
#pragma GCC unroll 16
    for (int v = 0; v < Vectors; ++v) {
        const typename Ops::vec start = (initial_accumulator<Ops>)(epilogue, col + std::size_t(v) * Ops::lanes);
#pragma GCC unroll 16
        for (int r = 0; r < Rows; ++r) acc[r][v] = start;
    }
}

// Where a tile's activation rows are: row r's k-group g at at(r, g).
// Packed rows (the GEMM, im2col tiles): row r at a + r * stride.
template <class Ops>
struct gemm_int8_strided_rows {
    const typename Ops::a_elem* a;
    std::size_t stride;
    QTL_KERNELS_ALWAYS_INLINE const typename Ops::a_elem* at(int r, std::size_t g) const noexcept {
        return a + r * stride + g * Ops::kgroup;
    }
};

// A convolution's rows read in place (conv_int8.hpp): row r (an output
// pixel) at rows[r], its k-group g at offsets[g] from there (the tap's
// place in the padded input).
template <class Ops>
struct gemm_int8_gathered_rows {
    std::array<const typename Ops::a_elem*, std::size_t{Ops::tile_rows}> rows;
    const std::uint32_t* offsets;
    QTL_KERNELS_ALWAYS_INLINE const typename Ops::a_elem* at(int r, std::size_t g) const noexcept {
        return rows[std::size_t(r)] + offsets[g];
    }
};

// K-group g of a tile: Vectors weight vectors times Rows broadcast activations.
template <class Ops, int Rows, int Vectors, class ARows>
QTL_KERNELS_ALWAYS_INLINE void gemm_int8_k_step(typename Ops::vec (&acc)[Rows][Vectors], const ARows& a,
                                                const std::int8_t* w, std::size_t g) noexcept {
    constexpr int lanes = Ops::lanes, kgroup = Ops::kgroup;
    constexpr std::size_t group_bytes = std::size_t{Ops::block_vectors} * lanes * kgroup;
    const std::int8_t* wg = w + g * group_bytes;
    typename Ops::wvec wv[Vectors];
#pragma GCC unroll 16
    for (int v = 0; v < Vectors; ++v) {
        wv[v] = Ops::load_weights(wg + v * lanes * kgroup);
        // One load for the Rows dot products: GCC would fold the load into
        // each VPDPBUSD (it takes a memory operand), Rows loads of the same
        // vector, and the loads rather than the multipliers would bound the
        // loop (0.62 -> 0.82 of the zmm peak on fc_64x1024x4096).
        if constexpr (requires { Ops::keep_in_register(wv[v]); }) Ops::keep_in_register(wv[v]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
        const typename Ops::bvec b = Ops::broadcast(a.at(r, g));
#pragma GCC unroll 16
        for (int v = 0; v < Vectors; ++v) acc[r][v] = Ops::dot(acc[r][v], b, wv[v]);
    }
}

// Rows x Vectors accumulators: `Rows` activation rows (stride a_stride)
// times `Vectors` vectors of one column block.  `cols` (>= 1) columns of the
// block are real; the epilogue stores only those.
template <class Ops, int Rows, int Vectors, class Epilogue>
void gemm_int8_tile(const typename Ops::a_elem* a, std::size_t a_stride, const std::int8_t* w, std::size_t k_groups,
                    const Epilogue& epilogue, std::size_t col, std::size_t cols, std::int8_t* out, std::size_t ldc) {
    constexpr int lanes = Ops::lanes;
    typename Ops::vec acc[Rows][Vectors];
    (gemm_int8_start_tile<Ops>)(acc, epilogue, col);
    const gemm_int8_strided_rows<Ops> a_rows{a, a_stride};
    for (std::size_t g = 0; g < k_groups; ++g) gemm_int8_k_step<Ops>(acc, a_rows, w, g);

    // Unrolled too: an accumulator indexed at run time would keep the whole
    // array in memory, and the compiler would shuffle it through the k loop.
    // An epilogue with store4 / store2 requantizes four / two vectors of a
    // row per call (independent chains the core overlaps; the rest go alone);
    // vector v + 1 always holds a real column.  With store2_rows2 and
    // store_rows4 / store_rows2 (AVX-512) the pairs go two rows per call and
    // single vectors four or two rows per call, narrowed together: layers of
    // 32 or 16 output channels (first layers, MobileNet projections) filled
    // half or a quarter of each narrow before (3x3/2 224x224x3 -> 32:
    // 131 -> 85 us of GEMM; 1x1 112x112x32 -> 16: 106 -> 74 us of conv).
    constexpr bool quads = requires(const Epilogue& e, typename Ops::vec x, std::int8_t* o) {
        e.store4(x, x, x, x, std::size_t{}, o, std::size_t{});
    };
    constexpr bool pairs = requires(const Epilogue& e, typename Ops::vec x, std::int8_t* o) {
        e.store2(x, x, std::size_t{}, o, std::size_t{});
    };
    constexpr int quadded = quads ? Vectors / 4 * 4 : 0;
    constexpr int paired = pairs ? quadded + (Vectors - quadded) / 2 * 2 : quadded;
    // A tile of 64 real columns where the epilogue can scale with a column's
    // constants loaded once (AVX-512 lane_epilogue): column by column, then
    // a narrow and store per row.  With a store4 call per row each row
    // loaded all four columns' constants again; MobileNetV2's 1x1 expansion
    // convolutions (k of 16-64, too few k-groups to defer) spend most of
    // their time in this epilogue.  AMD Zen 4, the model's CONV_2D
    // operators, alternating builds: 1936-1955 -> 1795-1799 us.
    constexpr bool by_column = requires(const Epilogue& e, typename Ops::vec& x, const typename Ops::vec (&row)[4],
                                        std::int8_t* o) {
        e.scale(x, e.constants(std::size_t{}));
        e.store_scaled4(row, o);
    };
    if constexpr (Vectors == 4 && by_column) {
        if (cols == 4 * std::size_t{lanes}) {
#pragma GCC unroll 4
            for (int v = 0; v < 4; ++v) {
                const auto k = epilogue.constants(col + std::size_t(v) * lanes);
#pragma GCC unroll 16
                for (int r = 0; r < Rows; ++r) epilogue.scale(acc[r][v], k);
            }
#pragma GCC unroll 16
            for (int r = 0; r < Rows; ++r) epilogue.store_scaled4(acc[r], out + r * ldc);
            return;
        }
    }
    if constexpr (quads) {
#pragma GCC unroll 16
        for (int v = 0; v < quadded; v += 4) {
            const std::size_t first = std::size_t(v) * lanes;
            const std::size_t count = std::min<std::size_t>(4 * lanes, cols - first);
#pragma GCC unroll 16
            for (int r = 0; r < Rows; ++r)
                epilogue.store4(acc[r][v], acc[r][v + 1], acc[r][v + 2], acc[r][v + 3], col + first,
                                out + r * ldc + first, count);
        }
    }
    constexpr bool row_pairs = requires(const Epilogue& e, typename Ops::vec x, std::int8_t* o) {
        e.store2_rows2(x, x, x, x, std::size_t{}, o, std::size_t{}, std::size_t{});
    };
    if constexpr (pairs) {
#pragma GCC unroll 16
        for (int v = quadded; v < paired; v += 2) {
            const std::size_t first = std::size_t(v) * lanes;
            const std::size_t count = std::min<std::size_t>(2 * lanes, cols - first);
            int r = 0;
            if constexpr (row_pairs) {
#pragma GCC unroll 16
                for (; r + 1 < Rows; r += 2)
                    epilogue.store2_rows2(acc[r][v], acc[r][v + 1], acc[r + 1][v], acc[r + 1][v + 1], col + first,
                                          out + r * ldc + first, ldc, count);
            }
#pragma GCC unroll 16
            for (; r < Rows; ++r)
                epilogue.store2(acc[r][v], acc[r][v + 1], col + first, out + r * ldc + first, count);
        }
    }
    // Single vectors by four or two rows where the epilogue narrows them together.
    constexpr bool row_quads = requires(const Epilogue& e, typename Ops::vec x, std::int8_t* o) {
        e.store_rows4(x, x, x, x, std::size_t{}, o, std::size_t{}, std::size_t{});
        e.store_rows2(x, x, std::size_t{}, o, std::size_t{}, std::size_t{});
    };
#pragma GCC unroll 16
    for (int v = paired; v < Vectors; ++v) {
        const std::size_t first = std::size_t(v) * lanes;
        const std::size_t count = std::min<std::size_t>(lanes, cols - first);
        int r = 0;
        if constexpr (row_quads) {
#pragma GCC unroll 16
            for (; r + 3 < Rows; r += 4)
                epilogue.store_rows4(acc[r][v], acc[r + 1][v], acc[r + 2][v], acc[r + 3][v], col + first,
                                     out + r * ldc + first, ldc, count);
#pragma GCC unroll 16
            for (; r + 1 < Rows; r += 2)
                epilogue.store_rows2(acc[r][v], acc[r + 1][v], col + first, out + r * ldc + first, ldc, count);
        }
#pragma GCC unroll 16
        for (; r < Rows; ++r) epilogue.store(acc[r][v], col + first, out + r * ldc + first, count);
    }
}

// Deferred requantization.  After a tile's k loop its requantization is a
// burst of shifts, shuffles and multiplies with long dependency chains, which
// the core cannot overlap with the next tile's k loop: that one keeps the
// multiply ports busy from its first instruction.  Where the epilogue can
// scale one vector and narrow a row of scaled vectors on their own (AVX-512
// lane_epilogue: scale, store_scaled4), a full tile (tile_rows x 4 vectors,
// every column real) leaves its accumulators here instead, and the next full
// tile requantizes them inside its k loop, one vector every k_groups / 24
// k-groups, where they fill the ports the dot products leave idle.  Measured
// on AMD Zen 5 in one process (the GEMM alone, fastest of 20, alternating):
// 3136 x 128 -> 128 182 -> 155 us, 384 x 768 -> 768 578 -> 545 us.
template <class Ops>
struct gemm_int8_deferred_tile {
    static constexpr int rows = Ops::tile_rows, vectors = Ops::block_vectors;
    static constexpr int vector_count = rows * vectors;
    alignas(64) typename Ops::vec acc[rows][vectors];
    std::int8_t* out = nullptr;  // row r of the tile at out + r * ldc
    std::size_t col = 0, ldc = 0;
    bool pending = false;
};

template <class Ops, class Epilogue>
concept gemm_int8_deferring_epilogue =
    Ops::block_vectors == 4 && requires(const Epilogue& e, typename Ops::vec& x, const typename Ops::vec (&row)[4],
                                        std::int8_t* out) {
        e.scale(x, std::size_t{});
        e.store_scaled4(row, out);
    };

// Requantizes the pending tile's row r (its four vectors, then the narrow).
template <class Ops, class Epilogue>
QTL_KERNELS_ALWAYS_INLINE void gemm_int8_finish_deferred_row(gemm_int8_deferred_tile<Ops>& d, const Epilogue& epilogue,
                                                             int r) noexcept {
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) epilogue.scale(d.acc[r][v], d.col + std::size_t(v) * Ops::lanes);
    epilogue.store_scaled4(d.acc[r], d.out + std::size_t(r) * d.ldc);
}

template <class Ops, class Epilogue>
QTL_KERNELS_NOINLINE void gemm_int8_finish_deferred(gemm_int8_deferred_tile<Ops>& d, const Epilogue& epilogue) noexcept {
    if (!d.pending) return;
    for (int r = 0; r < d.rows; ++r) gemm_int8_finish_deferred_row(d, epilogue, r);
    d.pending = false;
}

// A full tile (k_groups >= vector_count) whose k loop requantizes the pending
// tile, `Stride` k-groups per vector (0: k_groups / vector_count, at run
// time), and which leaves its own accumulators pending.  Stride 1 (k_groups
// in [24, 48): a 1x1 conv of 96-191 channels) has its own copy: with the run
// time count GCC schedules it worse (3136 x 128 -> 128: 155 -> 167 us).
template <class Ops, class Epilogue, int Stride, class ARows>
QTL_KERNELS_NOINLINE void gemm_int8_tile_deferring(const ARows a, const std::int8_t* w, std::size_t k_groups,
                                                   const Epilogue& epilogue, std::size_t col, std::int8_t* out,
                                                   std::size_t ldc, gemm_int8_deferred_tile<Ops>& d) noexcept {
    constexpr int Rows = gemm_int8_deferred_tile<Ops>::rows, Vectors = 4;
    typename Ops::vec acc[Rows][Vectors];
    (gemm_int8_start_tile<Ops>)(acc, epilogue, col);
    std::size_t g = 0;
    if (d.pending) {
        const std::size_t stride = Stride > 0 ? std::size_t{Stride} : k_groups / d.vector_count;
        for (int r = 0; r < Rows; ++r) {
#pragma GCC unroll 4
            for (int v = 0; v < Vectors; ++v) {
                if constexpr (Stride == 1)
                    gemm_int8_k_step<Ops>(acc, a, w, g++);
                else
                    for (std::size_t j = 0; j < stride; ++j) gemm_int8_k_step<Ops>(acc, a, w, g++);
                epilogue.scale(d.acc[r][v], d.col + std::size_t(v) * Ops::lanes);
            }
            epilogue.store_scaled4(d.acc[r], d.out + std::size_t(r) * d.ldc);
        }
    }
    for (; g < k_groups; ++g) gemm_int8_k_step<Ops>(acc, a, w, g);
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) d.acc[r][v] = acc[r][v];
    }
    d.out = out;
    d.col = col;
    d.ldc = ldc;
    d.pending = true;
}

// The same for tiles of two vectors (a column block of 32 real columns) with
// 6 to 23 k-groups: first conv layers, 1x1 convs of 21-92 channels to 32.
// Too few k-groups for one vector each, and from 24 up (MobileNet's
// projections to 32 channels) the pair tiles gained nothing.  Their epilogue
// is most of their time (the first layer, 3x3x3 -> 32: 7 k-groups, 12
// VPDPBUSD each): the pending tile's 12 vectors are scaled two after each of
// the first six k-group slots (k_groups / 6 k-groups each), and each pair of
// rows narrowed and stored once its four vectors are scaled (the first layer
// on AMD Zen 4, alone, alternating: 110.6 -> 106.4 us; docs/conv_kernels.md).
//
// One call runs `tiles` full tiles, rows a + t * tile_rows * a_stride, and
// requantizes the last after its loop.  The pending tile and both columns'
// constants then live in registers or on this call's stack, where no store
// of output bytes can alias them: with a call per tile (the pending tile in
// a struct the caller keeps) GCC reloaded the constants after every store,
// and the first layer took 102.5 us against 92.7 (AMD Zen 4, fastest of
// 3000).  Stride 1 (6-11 k-groups: the first layer's 7) has its own copy.
template <class Ops, class Epilogue>
concept gemm_int8_pair_run_epilogue =
    Ops::tile_rows % 2 == 0 &&
    requires(const Epilogue& e, typename Ops::vec& x, const typename Ops::vec (&rows)[4], std::int8_t* out) {
        e.scale(x, e.constants(std::size_t{}));
        e.store_scaled2_rows2(rows, out, std::size_t{});
    };

template <class Ops, class Epilogue, int Stride>
QTL_KERNELS_NOINLINE void gemm_int8_pair_tile_run(const typename Ops::a_elem* a, std::size_t a_stride,
                                                  std::size_t tiles, const std::int8_t* w, std::size_t k_groups,
                                                  const Epilogue& epilogue, std::size_t col, std::int8_t* out,
                                                  std::size_t ldc) noexcept {
    constexpr int Rows = Ops::tile_rows, Vectors = 2;
    const typename Epilogue::column_constants constants[Vectors] = {epilogue.constants(col),
                                                                    epilogue.constants(col + Ops::lanes)};
    const std::size_t stride = Stride > 0 ? std::size_t{Stride} : k_groups / Rows;
    typename Ops::vec pending[Rows][Vectors];
    for (std::size_t t = 0; t < tiles; ++t) {
        typename Ops::vec acc[Rows][Vectors];
        (gemm_int8_start_tile<Ops>)(acc, epilogue, col);
        const gemm_int8_strided_rows<Ops> rows{a + t * Rows * a_stride, a_stride};
        std::size_t g = 0;
        if (t > 0) {
            std::int8_t* const pending_out = out + (t - 1) * Rows * ldc;
            // A loop over row pairs (unrolled, the same speed with three times the code).
#pragma GCC unroll 1
            for (int p = 0; p < Rows; p += 2) {
                typename Ops::vec scaled[4];  // rows p and p + 1 of the pending tile
#pragma GCC unroll 2
                for (int q = 0; q < 2; ++q) {
                    if constexpr (Stride == 1)
                        gemm_int8_k_step<Ops>(acc, rows, w, g++);
                    else
                        for (std::size_t j = 0; j < stride; ++j) gemm_int8_k_step<Ops>(acc, rows, w, g++);
#pragma GCC unroll 2
                    for (int v = 0; v < Vectors; ++v) {
                        scaled[q * 2 + v] = pending[p + q][v];
                        epilogue.scale(scaled[q * 2 + v], constants[v]);
                    }
                }
                epilogue.store_scaled2_rows2(scaled, pending_out + std::size_t(p) * ldc, ldc);
            }
        }
        for (; g < k_groups; ++g) gemm_int8_k_step<Ops>(acc, rows, w, g);
#pragma GCC unroll 16
        for (int r = 0; r < Rows; ++r) {
#pragma GCC unroll 2
            for (int v = 0; v < Vectors; ++v) pending[r][v] = acc[r][v];
        }
    }
    if (tiles == 0) return;
    std::int8_t* const last_out = out + (tiles - 1) * Rows * ldc;
    for (int p = 0; p < Rows; p += 2) {
        typename Ops::vec scaled[4] = {pending[p][0], pending[p][1], pending[p + 1][0], pending[p + 1][1]};
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) epilogue.scale(scaled[q], constants[q % 2]);
        epilogue.store_scaled2_rows2(scaled, last_out + std::size_t(p) * ldc, ldc);
    }
}

// One row (batch-1 FC): `gemv_unroll` k-groups in flight, each with its own
// accumulators, so that enough independent dot products overlap.  Summed at
// the end (wrapping adds: the order does not change an int32 sum mod 2^32).
// No remainder loop: the packing pads k_groups to a multiple of gemv_unroll.
template <class Ops, int Vectors, class Epilogue>
void gemv_int8_block(const typename Ops::a_elem* a, const std::int8_t* w, std::size_t k_groups,
                     const Epilogue& epilogue, std::size_t col, std::size_t cols, std::int8_t* out) {
    constexpr int lanes = Ops::lanes, kgroup = Ops::kgroup, unroll = Ops::gemv_unroll;
    constexpr std::size_t group_bytes = std::size_t{Ops::block_vectors} * lanes * kgroup;
    typename Ops::vec acc[unroll][Vectors];
#pragma GCC unroll 16
    for (int u = 0; u < unroll; ++u)
#pragma GCC unroll 16
        for (int v = 0; v < Vectors; ++v)
            acc[u][v] = u == 0 ? (initial_accumulator<Ops>)(epilogue, col + std::size_t(v) * lanes) : Ops::zero();

    // k_groups is a multiple of unroll (zero groups padded by the packing).
    for (std::size_t g = 0; g < k_groups; g += unroll) {
        // Ops::prefetch_weights, where an ISA has it: one software prefetch per
        // cache line of weights (past the last block it fetches nothing useful).
        if constexpr (requires { Ops::prefetch_weights(w); })
            for (std::size_t b = 0; b < unroll * group_bytes; b += 64) Ops::prefetch_weights(w + g * group_bytes + b);
#pragma GCC unroll 16
        for (int u = 0; u < unroll; ++u) {
            const std::int8_t* wg = w + (g + u) * group_bytes;
            const typename Ops::bvec b = Ops::broadcast(a + (g + u) * kgroup);
#pragma GCC unroll 16
            for (int v = 0; v < Vectors; ++v)
                acc[u][v] = Ops::dot(acc[u][v], b, Ops::load_weights(wg + v * lanes * kgroup));
        }
    }

#pragma GCC unroll 16
    for (int v = 0; v < Vectors; ++v) {
        typename Ops::vec sum = acc[0][v];
#pragma GCC unroll 16
        for (int u = 1; u < unroll; ++u) sum = Ops::add(sum, acc[u][v]);
        const std::size_t first = std::size_t(v) * lanes;
        epilogue.store(sum, col + first, out + first, std::min<std::size_t>(lanes, cols - first));
    }
}

template <class Ops, class Epilogue>
using gemm_int8_tile_fn = void (*)(const typename Ops::a_elem*, std::size_t, const std::int8_t*, std::size_t,
                                   const Epilogue&, std::size_t, std::size_t, std::int8_t*, std::size_t);
template <class Ops, class Epilogue>
using gemv_int8_block_fn = void (*)(const typename Ops::a_elem*, const std::int8_t*, std::size_t, const Epilogue&,
                                    std::size_t, std::size_t, std::int8_t*);

// Entry i: tile_rows x block_vectors tile with i / block_vectors + 1 rows and
// i % block_vectors + 1 vectors (fewer rows at the bottom, fewer vectors in the
// last column block, so tails compute nothing they drop).
template <class Ops, class Epilogue, std::size_t... I>
constexpr std::array<gemm_int8_tile_fn<Ops, Epilogue>, sizeof...(I)> gemm_int8_tiles(std::index_sequence<I...>) {
    return {&gemm_int8_tile<Ops, int(I / Ops::block_vectors) + 1, int(I % Ops::block_vectors) + 1, Epilogue>...};
}
template <class Ops, class Epilogue, std::size_t... I>
constexpr std::array<gemv_int8_block_fn<Ops, Epilogue>, sizeof...(I)> gemv_int8_blocks(std::index_sequence<I...>) {
    return {&gemv_int8_block<Ops, int(I) + 1, Epilogue>...};
}

// Activation rows [m][k] (row stride lda) in pack_gemm_int8_activations'
// layout, a row at a time with the ISA's vectors: the portable loop runs a
// byte at a time at -O2 (GCC 12 vectorizes it only at -O3), where a 1x1 conv
// of 56x56x128 spent 110 of its 320 us in it.
// Ops::pack_row steps pack_step elements at a time; where those steps stay
// inside the input (m - 1) * lda + k bytes and the output m * k_padded
// elements (all rows but the last few), they read and write whole vectors.
template <class Ops>
void gemm_int8_pack_rows(const std::int8_t* a, std::size_t m, std::size_t lda, std::size_t k, std::size_t k_padded,
                         typename Ops::a_elem* out) noexcept {
    const std::size_t span = (k_padded + Ops::pack_step - 1) / Ops::pack_step * Ops::pack_step;
    const std::size_t a_size = (m - 1) * lda + k, out_size = m * k_padded;
    for (std::size_t r = 0; r < m; ++r) {
        const bool whole = r * lda + span <= a_size && r * k_padded + span <= out_size;
        Ops::pack_row(a + r * lda, k, k_padded, out + r * k_padded, whole);
    }
}

// Column blocks [block_begin, block_end) of out[m][n] (row stride ldc), from
// activations already packed (rows of packed.k_padded() elements).
template <class Ops, class Epilogue>
void gemm_int8_blocks(const gemm_int8_packed& packed, const typename Ops::a_elem* a, std::size_t m,
                      std::int8_t* out, std::size_t ldc, std::size_t block_begin, std::size_t block_end) {
    static constexpr auto tiles =
        gemm_int8_tiles<Ops, Epilogue>(std::make_index_sequence<std::size_t{Ops::tile_rows} * Ops::block_vectors>{});
    static constexpr auto gemv = gemv_int8_blocks<Ops, Epilogue>(std::make_index_sequence<Ops::block_vectors>{});
    const Epilogue epilogue(packed);
    const std::size_t block_columns = packed.block_columns(), a_stride = packed.k_padded();
    // The tiles stop at the last k-group holding a real k (the one-row kernel
    // needs the packing's padding to a multiple of its unroll; they do not).
    const std::size_t tile_k_groups = (packed.k + Ops::kgroup - 1) / Ops::kgroup;
    // Full tiles defer their requantization where the epilogue can (see gemm_int8_deferred_tile).
    constexpr bool deferring = gemm_int8_deferring_epilogue<Ops, Epilogue>;
    gemm_int8_deferred_tile<Ops> deferred;
    const std::size_t defer_stride = deferring ? tile_k_groups / deferred.vector_count : 0;
    // Tiles of two vectors with 6-23 k-groups defer theirs too, a run of them a call (gemm_int8_pair_tile_run).
    constexpr bool pair_running = gemm_int8_pair_run_epilogue<Ops, Epilogue>;
    const bool pairs_run = pair_running && tile_k_groups >= std::size_t{Ops::tile_rows} &&
                           tile_k_groups < std::size_t{deferred.vector_count};
    for (std::size_t block = block_begin; block < block_end; ++block) {
        const std::size_t col = block * block_columns;
        const std::size_t cols = std::min(block_columns, packed.n - col);
        const std::size_t vectors = (cols + Ops::lanes - 1) / Ops::lanes;
        const std::int8_t* w = packed.weights.data() + block * packed.block_bytes();
        if (m == 1) {
            gemv[vectors - 1](a, w, packed.k_groups, epilogue, col, cols, out + col);
            continue;
        }
        for (std::size_t row = 0; row < m; row += Ops::tile_rows) {
            const std::size_t rows = std::min<std::size_t>(Ops::tile_rows, m - row);
            if constexpr (deferring) {
                if (defer_stride > 0 && rows == Ops::tile_rows && cols == block_columns) {
                    const gemm_int8_strided_rows<Ops> a_rows{a + row * a_stride, a_stride};
                    (defer_stride == 1 ? gemm_int8_tile_deferring<Ops, Epilogue, 1, gemm_int8_strided_rows<Ops>>
                                       : gemm_int8_tile_deferring<Ops, Epilogue, 0, gemm_int8_strided_rows<Ops>>)(
                        a_rows, w, tile_k_groups, epilogue, col, out + row * ldc + col, ldc, deferred);
                    continue;
                }
            }
            if constexpr (pair_running) {
                if (pairs_run && rows == Ops::tile_rows && cols == 2 * std::size_t{Ops::lanes}) {
                    // Every full tile left in one call; the loop goes on at the row tail.
                    const std::size_t full_tiles = (m - row) / Ops::tile_rows;
                    (tile_k_groups < 2 * std::size_t{Ops::tile_rows} ? gemm_int8_pair_tile_run<Ops, Epilogue, 1>
                                                                      : gemm_int8_pair_tile_run<Ops, Epilogue, 0>)(
                        a + row * a_stride, a_stride, full_tiles, w, tile_k_groups, epilogue, col,
                        out + row * ldc + col, ldc);
                    row += (full_tiles - 1) * Ops::tile_rows;
                    continue;
                }
            }
            tiles[(rows - 1) * Ops::block_vectors + (vectors - 1)](a + row * a_stride, a_stride, w, tile_k_groups,
                                                                   epilogue, col, cols, out + row * ldc + col, ldc);
        }
    }
    if constexpr (deferring) (gemm_int8_finish_deferred<Ops>)(deferred, epilogue);
}

// `pixels` output pixels of a convolution from pixel `first` of `grid` on
// (gemm_int8_pixel_grid: rows read in place, no im2col), out[p][n] at out +
// p * ldc for pixel first + p: `chunk` pixels at a time, every column block
// over a chunk before the next, one pending deferred tile throughout.  Only
// full tiles with a deferred requantization: pixels and chunk multiples of
// tile_rows, n a multiple of block_columns, at least vector_count k-groups
// (conv_int8 checks; its other pixels go through im2col tiles).
template <class Ops, class Epilogue>
void gemm_int8_grid_blocks(const gemm_int8_packed& packed, const gemm_int8_pixel_grid& grid, std::size_t first,
                           std::size_t pixels, std::size_t chunk, std::int8_t* out, std::size_t ldc) {
    static_assert(gemm_int8_deferring_epilogue<Ops, Epilogue>);
    const Epilogue epilogue(packed);
    const std::size_t block_columns = packed.block_columns();
    const std::size_t tile_k_groups = (packed.k + Ops::kgroup - 1) / Ops::kgroup;
    gemm_int8_deferred_tile<Ops> deferred;
    const auto tile = tile_k_groups / deferred.vector_count == 1
                          ? gemm_int8_tile_deferring<Ops, Epilogue, 1, gemm_int8_gathered_rows<Ops>>
                          : gemm_int8_tile_deferring<Ops, Epilogue, 0, gemm_int8_gathered_rows<Ops>>;
    for (std::size_t c0 = 0; c0 < pixels; c0 += chunk) {
        const std::size_t count = std::min(chunk, pixels - c0);
        for (std::size_t block = 0; block < packed.blocks; ++block) {
            const std::size_t col = block * block_columns;
            const std::int8_t* w = packed.weights.data() + block * packed.block_bytes();
            std::size_t y = (first + c0) / grid.width, x = (first + c0) % grid.width;
            for (std::size_t p = c0; p < c0 + count; p += Ops::tile_rows) {
                gemm_int8_gathered_rows<Ops> a{{}, grid.offsets};
                for (std::size_t r = 0; r < std::size_t{Ops::tile_rows}; ++r) {
                    a.rows[r] = grid.origin + y * grid.y_step + x * grid.x_step;
                    if (++x == grid.width) {
                        x = 0;
                        ++y;
                    }
                }
                tile(a, w, tile_k_groups, epilogue, col, out + p * ldc + col, ldc, deferred);
            }
        }
    }
    (gemm_int8_finish_deferred<Ops>)(deferred, epilogue);
}
