// The depthwise quad-row kernel (depthwise_int8.hpp, "quad rows": four
// horizontal taps a lane, one VPDPBUSD each), written once over an `ops`
// type for AVX-512 VNNI (zmm, 16 channels a vector) and AVX-VNNI (ymm, 8):
//
//   ops::vec, ops::lanes, ops::max_rows_per_pass (what the packing allows),
//   ops::load(const uint8_t*), ops::load_weights(const int8_t*, aligned),
//   ops::load_bias<Offset>(const int32_t*) (the bias + Offset, the
//   epilogue's accumulator_offset), ops::dot(acc, x, w) (VPDPBUSD),
//   ops::convert_quads(a, b, c, d, n, q) (n quads + 128 at q).
//
// No include guard, on purpose (as kernels/detail/gemm_int8_microkernel.inl):
// each instruction set includes this file inside its own namespace and
// compiler target region, so the same loops are compiled with that ISA's
// code generation (ymm code must not pick up EVEX encodings or registers
// 16-31).  Nothing here may test ISA macros or include headers.
//
// Expects in scope, besides `ops`: register_stage<F> (the ISA's in-register
// requantize stage), register_epilogue<F> and spill_epilogue (whose
// store<Np>(acc, ox0, col, count) write one vector of channels at Np
// pixels), with_epilogue<Policy, Doubled>(p, scratch, dst, row), and
// depthwise_int8.hpp's packing and detail::depthwise drivers.

// Output rows oy .. oy + count - 1 of a pass in registers: rows(R, e) with
// R = count as a compile-time constant (1..Max) and e[r] the epilogue that
// writes row oy + r.
template <int Max, class Epilogue, class Stage, class RowsFn>
void with_row_epilogues(const Stage& stage, std::int8_t* out, std::size_t out_row, std::size_t out_channels,
                        std::int32_t oy, std::int32_t count, RowsFn rows) {
    [&]<int... R>(std::integer_sequence<int, R...>) {
        const Epilogue e[] = {Epilogue{stage, out + std::size_t(oy + std::min(R, count - 1)) * out_row, out_channels}...};
        ((count == R + 1 ? rows(std::integral_constant<int, R + 1>{}, e) : void()), ...);
    }(std::make_integer_sequence<int, Max>{});
}

// Quad row for depth multiplier 1, the pair-row conversion's plan: taps
// outside the image read the zero-point pixel (which becomes the padding
// byte), interior quads come straight from the row, as one stream when every
// quad is read and no channel is padded.
inline void convert_quad_row_m1(const depthwise_int8_packed& p, const std::int8_t* row,
                                const std::int8_t* zp_pixel, std::uint8_t* dst) noexcept {
    const std::size_t channels = std::size_t(p.channels), padded = p.channels_padded;
    const std::size_t step = p.quad_row_step, pixels = p.quad_row_pixels;
    const std::size_t dw = std::size_t(p.dilation_width), pad = std::size_t(p.pad_left);
    const std::size_t reach = 3 * dw;  // the last tap of a quad, from its first
    // All four taps inside for xi in [first, last), first a multiple of step.
    const std::size_t first = std::min((pad + step - 1) / step * step, pixels);
    const std::size_t last = std::clamp<std::size_t>(
        std::size_t(p.width) > reach ? std::size_t(p.width) - reach + pad : 0, first, pixels);
    const auto tap = [&](std::size_t xi, std::size_t i) {
        const std::int64_t x = std::int64_t(xi) - p.pad_left + std::int64_t(i * dw);
        return x >= 0 && x < p.width ? row + std::size_t(x) * channels : zp_pixel;
    };
    const auto border_pixel = [&](std::size_t xi) {
        ops::convert_quads(tap(xi, 0), tap(xi, 1), tap(xi, 2), tap(xi, 3), channels, dst + xi * padded * 4);
    };
    std::size_t xi = 0;
    for (; xi < first; xi += step) border_pixel(xi);
    const std::size_t tap_step = dw * channels;
    if (step == 1 && channels == padded) {
        const std::int8_t* a = row + (first - pad) * channels;
        ops::convert_quads(a, a + tap_step, a + 2 * tap_step, a + 3 * tap_step, (last - first) * channels,
                           dst + first * padded * 4);
        xi = last;
    } else {
        for (; xi < last; xi += step) {
            const std::int8_t* a = row + (xi - pad) * channels;
            ops::convert_quads(a, a + tap_step, a + 2 * tap_step, a + 3 * tap_step, channels, dst + xi * padded * 4);
        }
    }
    for (; xi < pixels; xi += step) border_pixel(xi);
}


// Np (1..4) output pixels from ox0, every vector of channels.  Kh/Kq > 0: the
// filter height and quads per row known at compile time (3x3: 3, 1).
template <int Kh, int Kq, int Np, class Epilogue>
void pixel_group(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows, std::size_t ox0,
                 const Epilogue& epilogue) {
    constexpr std::size_t lanes = ops::lanes, vector_bytes = 4 * lanes;
    const std::size_t kh = Kh > 0 ? std::size_t(Kh) : std::size_t(p.kernel_height);
    const std::size_t quads = Kq > 0 ? std::size_t(Kq) : p.kernel_quads;
    const std::size_t pixel = p.channels_padded * 4, step = std::size_t(p.stride_width) * pixel;
    const std::size_t quad_step = 4 * std::size_t(p.dilation_width) * pixel;
    const std::size_t tiles = p.channels_padded / lanes, oc = p.out_channels, tile_weights = kh * quads * vector_bytes;
    for (std::size_t t = 0; t < tiles; ++t) {
        const std::int8_t* w = p.quad_weights.data() + t * tile_weights;
        const typename ops::vec bias =
            ops::template load_bias<Epilogue::accumulator_offset>(p.quad_bias.data() + t * lanes);
        typename ops::vec acc[Np];
#pragma GCC unroll 4
        for (int q = 0; q < Np; ++q) acc[q] = bias;
#pragma GCC unroll 8
        for (std::size_t ky = 0; ky < kh; ++ky) {
            const std::uint8_t* r = tap_rows[ky] + ox0 * step + t * vector_bytes;
#pragma GCC unroll 4
            for (std::size_t j = 0; j < quads; ++j) {
                const typename ops::vec wv = ops::load_weights(w + (ky * quads + j) * vector_bytes);
                const std::uint8_t* x = r + j * quad_step;
#pragma GCC unroll 4
                for (int q = 0; q < Np; ++q) acc[q] = ops::dot(acc[q], ops::load(x + q * step), wv);
            }
        }
        epilogue.template store<Np>(acc, ox0, t * lanes, std::min(lanes, oc - t * lanes));
    }
}

template <int Kh, int Kq, class Epilogue>
void output_row(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows, const Epilogue& epilogue) {
    detail::depthwise::for_each_pixel_group(std::size_t(p.output_width), [&](auto np, std::size_t ox0) {
        pixel_group<Kh, Kq, decltype(np)::value>(p, tap_rows, ox0, epilogue);
    });
}

template <class Epilogue>
void output_row_any(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows, const Epilogue& epilogue) {
    if (p.kernel_height == 3 && p.kernel_quads == 1) return output_row<3, 1>(p, tap_rows, epilogue);
    if (p.kernel_height == 5 && p.kernel_quads == 2) return output_row<5, 2>(p, tap_rows, epilogue);
    output_row<0, 0>(p, tap_rows, epilogue);
}

// Np output pixels from ox0 of R output rows of a 3x3 filter (one quad a
// filter row) of vertical stride Sh, every vector of channels: each of the
// (R - 1) * Sh + 3 quad rows is loaded once and feeds the accumulators of
// every output row it is a tap of (at stride 1, R + 2 loads for 3R
// VPDPBUSD per pixel, not 3R).  The int32 sums wrap the same in any order,
// so this equals R pixel_group calls.
template <int R, int Sh, int Np, class Epilogue>
void pixel_group_rows(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows, std::size_t ox0,
                      const Epilogue* epilogues) {
    constexpr std::size_t lanes = ops::lanes, vector_bytes = 4 * lanes;
    const std::size_t pixel = p.channels_padded * 4, step = std::size_t(p.stride_width) * pixel;
    const std::size_t tiles = p.channels_padded / lanes, oc = p.out_channels;
    for (std::size_t t = 0; t < tiles; ++t) {
        const std::int8_t* w = p.quad_weights.data() + t * 3 * vector_bytes;
        const typename ops::vec wv[3] = {ops::load_weights(w), ops::load_weights(w + vector_bytes),
                                         ops::load_weights(w + 2 * vector_bytes)};
        const typename ops::vec bias =
            ops::template load_bias<Epilogue::accumulator_offset>(p.quad_bias.data() + t * lanes);
        typename ops::vec acc[R][Np];
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
            for (int q = 0; q < Np; ++q) acc[r][q] = bias;
        const std::size_t at = ox0 * step + t * vector_bytes;
#pragma GCC unroll 9
        for (int i = 0; i < (R - 1) * Sh + 3; ++i) {  // input row i is tap ky = i - r Sh of output row r
#pragma GCC unroll 4
            for (int q = 0; q < Np; ++q) {
                const typename ops::vec x = ops::load(tap_rows[i] + at + std::size_t(q) * step);
#pragma GCC unroll 4
                for (int r = 0; r < R; ++r)
                    if (const int ky = i - r * Sh; ky >= 0 && ky < 3) acc[r][q] = ops::dot(acc[r][q], x, wv[ky]);
            }
        }
        const std::size_t count = std::min(lanes, oc - t * lanes);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) epilogues[r].template store<Np>(acc[r], ox0, t * lanes, count);
    }
}

template <int R, class Epilogue>
void output_rows(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows, const Epilogue* epilogues) {
    detail::depthwise::for_each_pixel_group(std::size_t(p.output_width), [&](auto np, std::size_t ox0) {
        if (p.stride_height == 1)
            pixel_group_rows<R, 1, decltype(np)::value>(p, tap_rows, ox0, epilogues);
        else
            pixel_group_rows<R, 2, decltype(np)::value>(p, tap_rows, ox0, epilogues);
    });
}

// The quad-row kernel on every image: p.rows_per_pass rows a pass where the
// packing chose several (always with the in-register epilogue), else one
// row a pass through with_epilogue, the doubled forms allowed (now
// one_rounding_offset; one_rounding_doubled against one_rounding on AVX-512
// VNNI, 5x5 28x28x192 on AMD Zen 5: fastest 68.1 -> 64.8 and 69.4 -> 64.2 us).
template <class Policy>
void run_quad_rows(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output,
                   detail::depthwise::scratch& s) {
    const std::size_t in_image = std::size_t(p.height) * std::size_t(p.width) * std::size_t(p.channels);
    const std::size_t out_row = std::size_t(p.output_width) * p.out_channels;
    const std::size_t out_image = std::size_t(p.output_height) * out_row;
    const auto convert = [&](const std::int8_t* row, std::uint8_t* dst) {
        if (p.depth_multiplier == 1)
            convert_quad_row_m1(p, row, s.zero_point_pixel.data(), dst);
        else
            detail::depthwise::convert_quad_row_portable(p, row, dst);
    };
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        if (p.rows_per_pass > 1) {  // packed only where lane_requantize.usable: every row in registers
            detail::depthwise::with_lane_form(p.lane_requantize, p.output, [&](auto form) {
                constexpr auto f = decltype(form)::value;
                using epilogue = register_epilogue<f>;
                const register_stage<f> stage(p.lane_requantize, p.output);
                for (std::size_t n = 0; n < std::size_t(p.batches); ++n) {
                    std::int8_t* out = output + n * out_image;
                    detail::depthwise::for_each_output_row_block(
                        p, input + n * in_image, s.quad_rows.data(), p.quad_row_bytes(), s.ring_tags,
                        s.quad_tap_rows, convert, [&](const std::uint8_t* const* rows, std::int32_t oy, int count) {
                            with_row_epilogues<ops::max_rows_per_pass, epilogue>(
                                stage, out, out_row, p.out_channels, oy, count,
                                [&](auto r, const epilogue* e) { output_rows<decltype(r)::value>(p, rows, e); });
                        });
                }
            });
            return;
        }
    }
    for (std::size_t n = 0; n < std::size_t(p.batches); ++n) {
        std::int8_t* out = output + n * out_image;
        detail::depthwise::for_each_output_quad_row(
            p, input + n * in_image, s, convert, [&](const std::uint8_t* const* rows, std::int32_t oy) {
                with_epilogue<Policy, true>(p, s, out + std::size_t(oy) * out_row,
                                            [&](const auto& epilogue) { output_row_any(p, rows, epilogue); });
            });
    }
}
