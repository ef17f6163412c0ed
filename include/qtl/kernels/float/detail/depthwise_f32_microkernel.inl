// The float depthwise pixel kernel, written once over the `ops` struct of the
// enclosing namespace (simd_f32.hpp).  No include guard, on purpose: like
// gemm_f32_microkernel.inl, depthwise_f32.hpp includes it inside each
// instruction set's namespace and target region.  No headers, no ISA macros.
//
// Expects in scope: <cstddef>, ops.

// For `pixels` output pixels of one row: out[c] = clamp(bias[c] + sum_t
// in[offsets[t] + c] * w[t][c]) for c < channels, over `taps` window taps;
// pixel i reads from base + i * step and writes out + i * channels.  Channels
// go 4 vectors at a time (4 independent accumulators), then one vector, then
// the scalar rest; w and bias are padded to whole vectors.
inline void depthwise_f32_pixels(const float* base, std::size_t step, std::size_t pixels,
                                 const std::ptrdiff_t* offsets, const float* const* w, std::size_t taps,
                                 const float* bias, std::size_t channels, float lo_s, float hi_s,
                                 float* out) noexcept {
    using vec = typename ops::vec;
    constexpr std::size_t W = ops::width;
    const vec lo = ops::broadcast(lo_s), hi = ops::broadcast(hi_s);
    for (std::size_t px = 0; px < pixels; ++px, base += step, out += channels) {
        std::size_t c = 0;
        for (; c + 4 * W <= channels; c += 4 * W) {
            vec a0 = ops::load(bias + c), a1 = ops::load(bias + c + W), a2 = ops::load(bias + c + 2 * W),
                a3 = ops::load(bias + c + 3 * W);
            for (std::size_t t = 0; t < taps; ++t) {
                const float* x = base + offsets[t] + c;
                const float* f = w[t] + c;
                a0 = ops::fmadd(ops::load(x), ops::load(f), a0);
                a1 = ops::fmadd(ops::load(x + W), ops::load(f + W), a1);
                a2 = ops::fmadd(ops::load(x + 2 * W), ops::load(f + 2 * W), a2);
                a3 = ops::fmadd(ops::load(x + 3 * W), ops::load(f + 3 * W), a3);
            }
            ops::store(out + c, ops::min(ops::max(a0, lo), hi));
            ops::store(out + c + W, ops::min(ops::max(a1, lo), hi));
            ops::store(out + c + 2 * W, ops::min(ops::max(a2, lo), hi));
            ops::store(out + c + 3 * W, ops::min(ops::max(a3, lo), hi));
        }
        for (; c + W <= channels; c += W) {
            vec a = ops::load(bias + c);
            for (std::size_t t = 0; t < taps; ++t) a = ops::fmadd(ops::load(base + offsets[t] + c), ops::load(w[t] + c), a);
            ops::store(out + c, ops::min(ops::max(a, lo), hi));
        }
        for (; c < channels; ++c) {
            float a = bias[c];
            for (std::size_t t = 0; t < taps; ++t) a += base[offsets[t] + std::ptrdiff_t(c)] * w[t][c];
            out[c] = a < lo_s ? lo_s : (a > hi_s ? hi_s : a);
        }
    }
}
