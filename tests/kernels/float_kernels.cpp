// The float kernels of include/qtl/kernels/float/: hand-computed cases and
// random cases against naive loops written here, for every instruction set
// this machine runs (portable xsimd and, where the CPU has it, AVX2+FMA).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "qtl/kernels/float/conv_f32.hpp"
#include "qtl/kernels/float/depthwise_f32.hpp"
#include "qtl/kernels/float/elementwise_f32.hpp"
#include "qtl/kernels/float/gemm_f32.hpp"
#include "qtl/kernels/float/layout_f32.hpp"
#include "qtl/kernels/float/pool_f32.hpp"

using namespace qtl::kernels;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

std::vector<float_isa> isas() {
    std::vector<float_isa> out{float_isa::portable};
    if (float_isa_supported(float_isa::avx2_fma)) out.push_back(float_isa::avx2_fma);
    return out;
}

std::vector<float> random_floats(std::size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// |got - want| within a tolerance scaled to the number of products summed.
void check_close(const std::vector<float>& got, const std::vector<double>& want, double tolerance) {
    REQUIRE(got.size() == want.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (!(std::abs(double(got[i]) - want[i]) <= tolerance)) ++bad;
    CHECK(bad == 0);
}

// Naive NHWC convolution (groups of `in_c` input channels per output channel
// when depthwise = false; one channel, multiplier m, when depthwise = true).
struct conv_case {
    int batch, h, w, ic, oc_or_mult, kh, kw, sh, sw, dh, dw;
    bool same;
};

int out_size(int in, int k, int s, int d, bool same) {
    const int eff = (k - 1) * d + 1;
    return same ? (in + s - 1) / s : (in - eff + s) / s;
}
int pad_before(int in, int out, int k, int s, int d) {
    const int eff = (k - 1) * d + 1;
    return std::max(0, (out - 1) * s + eff - in) / 2;
}

std::vector<double> naive_conv(const conv_case& c, const std::vector<float>& x, const std::vector<float>& f,
                               const std::vector<float>& bias, bool depthwise, float lo, float hi) {
    const int oh = out_size(c.h, c.kh, c.sh, c.dh, c.same), ow = out_size(c.w, c.kw, c.sw, c.dw, c.same);
    const int ph = pad_before(c.h, oh, c.kh, c.sh, c.dh), pw = pad_before(c.w, ow, c.kw, c.sw, c.dw);
    const int oc = depthwise ? c.ic * c.oc_or_mult : c.oc_or_mult;
    std::vector<double> y;
    for (int b = 0; b < c.batch; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
                for (int o = 0; o < oc; ++o) {
                    double s = bias.empty() ? 0.0 : bias[o];
                    for (int ky = 0; ky < c.kh; ++ky)
                        for (int kx = 0; kx < c.kw; ++kx) {
                            const int iy = oy * c.sh - ph + ky * c.dh, ix = ox * c.sw - pw + kx * c.dw;
                            if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                            const std::size_t px = ((std::size_t(b) * c.h + iy) * c.w + ix) * c.ic;
                            if (depthwise) {
                                s += double(x[px + o / c.oc_or_mult]) * f[(std::size_t(ky) * c.kw + kx) * oc + o];
                            } else {
                                for (int i = 0; i < c.ic; ++i)
                                    s += double(x[px + i]) * f[((std::size_t(o) * c.kh + ky) * c.kw + kx) * c.ic + i];
                            }
                        }
                    y.push_back(std::min<double>(std::max<double>(s, lo), hi));
                }
    return y;
}

}  // namespace

TEST_CASE("gemm_f32: a hand-computed 2x3 by 3x2 product with bias and RELU") {
    // a = [[1, 2, 3], [-1, 0, 1]], w = [[1, 0, -1], [2, 1, 0]], bias = [0.5, -10]
    // a.w0 = -2 + 0.5 = -1.5 -> 0 (relu); a.w1 = 4 - 10 = -6 -> 0
    // row 1: 1*-1 + 1*-1 ... = -1 + 0 - 1 = -2 + 0.5 = -1.5 -> 0; -2 + 0 + 0 - 10 -> 0
    // without relu: [[-1.5, -6], [-1.5, -12]]
    const std::vector<float> a{1, 2, 3, -1, 0, 1}, w{1, 0, -1, 2, 1, 0}, bias{0.5f, -10};
    for (auto isa : isas()) {
        CAPTURE(to_string(isa));
        std::vector<float> c(4);
        gemm_f32(pack_gemm_f32(w, 2, 3, bias, -inf, inf, isa), a.data(), 2, 3, c.data(), 2);
        CHECK(c == std::vector<float>{-1.5f, -6.0f, -1.5f, -12.0f});
        gemm_f32(pack_gemm_f32(w, 2, 3, bias, 0.0f, inf, isa), a.data(), 2, 3, c.data(), 2);
        CHECK(c == std::vector<float>{0, 0, 0, 0});
        gemm_f32(pack_gemm_f32(w, 2, 3, {}, -1.0f, 1.0f, isa), a.data(), 2, 3, c.data(), 2);
        CHECK(c == std::vector<float>{-1, 1, -1, -1});
    }
}

TEST_CASE("gemm_f32: every tile edge against a naive loop") {
    std::mt19937 rng(7);
    std::vector<std::size_t> sizes;
    for (std::size_t s = 1; s <= 17; ++s) sizes.push_back(s);
    sizes.push_back(33);
    sizes.push_back(65);
    for (auto isa : isas())
        for (std::size_t m : sizes)
            for (std::size_t n : sizes)
                for (std::size_t k : sizes) {
                    const auto a = random_floats(m * (k + 3), rng);  // row stride k + 3
                    const auto w = random_floats(n * k, rng), bias = random_floats(n, rng);
                    const float lo = -0.5f, hi = 2.0f;
                    std::vector<float> c(m * (n + 2), 99.0f);  // row stride n + 2
                    gemm_f32(pack_gemm_f32(w, n, k, bias, lo, hi, isa), a.data(), m, k + 3, c.data(), n + 2);
                    std::vector<float> got;
                    std::vector<double> want;
                    bool padding_kept = true;
                    for (std::size_t i = 0; i < m; ++i) {
                        for (std::size_t j = 0; j < n; ++j) {
                            double s = bias[j];
                            for (std::size_t kk = 0; kk < k; ++kk) s += double(a[i * (k + 3) + kk]) * w[j * k + kk];
                            want.push_back(std::min<double>(std::max<double>(s, lo), hi));
                            got.push_back(c[i * (n + 2) + j]);
                        }
                        padding_kept = padding_kept && c[i * (n + 2) + n] == 99.0f && c[i * (n + 2) + n + 1] == 99.0f;
                    }
                    CAPTURE(m);
                    CAPTURE(n);
                    CAPTURE(k);
                    CHECK(padding_kept);
                    check_close(got, want, 1e-5 * double(k + 1));
                }
}

TEST_CASE("gemm_f32: bad arguments are refused") {
    const std::vector<float> w(6, 1.0f);
    CHECK_THROWS_AS(pack_gemm_f32(w, 2, 4, {}), qtl::error);
    CHECK_THROWS_AS(pack_gemm_f32(w, 2, 3, std::vector<float>(3)), qtl::error);
    const auto p = pack_gemm_f32(w, 2, 3, {});
    std::vector<float> a(6), c(4);
    CHECK_THROWS_AS(gemm_f32(p, a.data(), 2, 2, c.data(), 2), qtl::error);  // lda < k
    CHECK_THROWS_AS(gemm_f32(p, a.data(), 2, 3, c.data(), 1), qtl::error);  // ldc < n
}

TEST_CASE("conv_f32: a hand-computed 3x3 image, 2x2 filter, VALID and SAME") {
    // image 1..9 (one channel), filter [[1, 0], [0, -1]] -> x[y][x] - x[y+1][x+1] = -4 everywhere (VALID)
    const std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, f{1, 0, 0, -1}, bias{1};
    for (auto isa : isas()) {
        conv_f32_params p;
        p.input_height = p.input_width = 3;
        p.filter_height = p.filter_width = 2;
        auto c = pack_conv_f32(p, f, bias, isa);
        std::vector<float> y(c.output_size());
        conv_f32(c, x.data(), y.data());
        CHECK(y == std::vector<float>{-3, -3, -3, -3});
        // SAME: 3x3 output, total padding 1 goes after: the last row/column miss the (1,1) tap.
        p.padding = qtl::ops::padding::same;
        c = pack_conv_f32(p, f, bias, isa);
        y.assign(c.output_size(), 0.0f);
        conv_f32(c, x.data(), y.data());
        CHECK(y == std::vector<float>{-3, -3, 4, -3, -3, 7, 8, 9, 10});
    }
}

TEST_CASE("conv_f32: strides, dilations, padding and channel counts against a naive loop") {
    std::mt19937 rng(11);
    const std::vector<conv_case> cases{
        {1, 5, 5, 1, 1, 3, 3, 1, 1, 1, 1, true},   {2, 7, 6, 3, 5, 3, 3, 2, 2, 1, 1, true},
        {1, 8, 9, 4, 17, 3, 2, 1, 2, 2, 1, false}, {1, 9, 9, 2, 33, 3, 3, 2, 1, 2, 2, true},
        {1, 6, 6, 8, 16, 1, 1, 1, 1, 1, 1, true},  {3, 4, 5, 7, 9, 1, 1, 1, 1, 1, 1, false},
        {1, 6, 6, 5, 6, 1, 1, 2, 2, 1, 1, true},   {1, 12, 11, 3, 8, 5, 5, 3, 2, 1, 1, true},
        {1, 10, 10, 16, 32, 3, 3, 1, 1, 1, 1, false}, {1, 3, 3, 2, 3, 4, 4, 1, 1, 1, 1, true},
    };
    for (auto isa : isas())
        for (const auto& cc : cases)
            for (bool with_bias : {true, false}) {
                CAPTURE(&cc - cases.data());
                const auto x = random_floats(std::size_t(cc.batch) * cc.h * cc.w * cc.ic, rng);
                const auto f = random_floats(std::size_t(cc.oc_or_mult) * cc.kh * cc.kw * cc.ic, rng);
                const auto bias = with_bias ? random_floats(std::size_t(cc.oc_or_mult), rng) : std::vector<float>{};
                conv_f32_params p{cc.batch, cc.h, cc.w, cc.ic, cc.oc_or_mult, cc.kh, cc.kw, cc.sh, cc.sw, cc.dh, cc.dw,
                                  cc.same ? qtl::ops::padding::same : qtl::ops::padding::valid, -1.5f, 1.5f};
                const auto packed = pack_conv_f32(p, f, bias, isa);
                std::vector<float> y(packed.output_size());
                conv_f32(packed, x.data(), y.data());
                check_close(y, naive_conv(cc, x, f, bias, false, -1.5f, 1.5f), 1e-5 * (cc.kh * cc.kw * cc.ic + 1));
            }
}

TEST_CASE("depthwise_f32: a hand-computed multiplier-2 case") {
    // 2x2 image, channels (1, 10 | 2, 20 | 3, 30 | 4, 40), 2x2 filter VALID, multiplier 2:
    // output channel 2c + m = sum over taps of x[c] * f[tap][2c + m].
    const std::vector<float> x{1, 10, 2, 20, 3, 30, 4, 40};
    // taps (0,0) (0,1) (1,0) (1,1), 4 output channels each
    const std::vector<float> f{1, 0, 0, 1,  1, 0, 0, 1,  1, 0, 0, 1,  1, 1, 1, 1};
    // ch0 (c0, m0): 1+2+3+4 = 10; ch1 (c0, m1): 4; ch2 (c1, m0): 40; ch3 (c1, m1): 10+20+30+40 = 100
    for (auto isa : isas()) {
        depthwise_f32_params p;
        p.input_height = p.input_width = 2;
        p.input_channels = 2;
        p.multiplier = 2;
        p.filter_height = p.filter_width = 2;
        const auto d = pack_depthwise_f32(p, f, std::vector<float>{0, 0, 0, 0.5f}, isa);
        std::vector<float> y(d.output_size());
        depthwise_f32(d, x.data(), y.data());
        CHECK(y == std::vector<float>{10, 4, 40, 100.5f});
    }
}

TEST_CASE("depthwise_f32: multipliers, channel tails, strides and dilations against a naive loop") {
    std::mt19937 rng(13);
    const std::vector<conv_case> cases{
        {1, 6, 6, 1, 1, 3, 3, 1, 1, 1, 1, true},    {2, 7, 5, 3, 2, 3, 3, 2, 2, 1, 1, true},
        {1, 9, 8, 13, 1, 3, 3, 1, 1, 2, 2, true},   {1, 8, 8, 40, 1, 3, 3, 2, 2, 1, 1, false},
        {1, 5, 6, 20, 2, 3, 3, 1, 2, 1, 1, true},   {1, 6, 6, 5, 3, 5, 5, 1, 1, 1, 1, true},
        {1, 10, 10, 64, 1, 3, 3, 1, 1, 1, 1, true}, {1, 4, 4, 9, 2, 2, 2, 2, 1, 1, 2, false},
        {1, 3, 3, 4, 1, 5, 5, 1, 1, 1, 1, true},    {2, 11, 13, 24, 1, 3, 3, 2, 2, 2, 2, true},
        {1, 12, 9, 8, 1, 3, 5, 1, 3, 1, 1, true},
    };
    for (auto isa : isas())
        for (const auto& cc : cases)
            for (bool with_bias : {true, false}) {
                CAPTURE(&cc - cases.data());
                const std::size_t oc = std::size_t(cc.ic) * cc.oc_or_mult;
                const auto x = random_floats(std::size_t(cc.batch) * cc.h * cc.w * cc.ic, rng);
                const auto f = random_floats(oc * cc.kh * cc.kw, rng);
                const auto bias = with_bias ? random_floats(oc, rng) : std::vector<float>{};
                depthwise_f32_params p{cc.batch, cc.h, cc.w, cc.ic, cc.oc_or_mult, cc.kh, cc.kw, cc.sh, cc.sw, cc.dh,
                                       cc.dw, cc.same ? qtl::ops::padding::same : qtl::ops::padding::valid, 0.0f, inf};
                const auto packed = pack_depthwise_f32(p, f, bias, isa);
                std::vector<float> y(packed.output_size());
                depthwise_f32(packed, x.data(), y.data());
                check_close(y, naive_conv(cc, x, f, bias, true, 0.0f, inf), 1e-5 * (cc.kh * cc.kw + 1));
            }
}

TEST_CASE("pool_f32: average excludes padding, max ignores it") {
    // 3x3 image 1..9, 2x2 window stride 2 SAME: windows {1,2,4,5} {3,6} {7,8} {9}
    const std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
    pool_f32_params p;
    p.input_height = p.input_width = 3;
    p.filter_height = p.filter_width = 2;
    p.stride_height = p.stride_width = 2;
    p.padding = qtl::ops::padding::same;
    std::vector<float> y(4);
    pool_f32(prepare_pool_f32(p), x.data(), y.data());
    CHECK(y == std::vector<float>{3, 4.5f, 7.5f, 9});
    p.kind = pool_f32_kind::max;
    pool_f32(prepare_pool_f32(p), x.data(), y.data());
    CHECK(y == std::vector<float>{5, 6, 8, 9});
    p.hi = 7.0f;  // fused clamp
    pool_f32(prepare_pool_f32(p), x.data(), y.data());
    CHECK(y == std::vector<float>{5, 6, 7, 7});
}

TEST_CASE("pool_f32: random cases against a naive loop") {
    std::mt19937 rng(17);
    for (auto kind : {pool_f32_kind::average, pool_f32_kind::max})
        for (bool same : {true, false}) {
            const int b = 2, h = 7, w = 6, c = 11, fh = 3, fw = 2, sh = 2, sw = 1;
            const auto x = random_floats(std::size_t(b) * h * w * c, rng);
            pool_f32_params p{kind, b, h, w, c, fh, fw, sh, sw,
                              same ? qtl::ops::padding::same : qtl::ops::padding::valid, -inf, inf};
            const auto pp = prepare_pool_f32(p);
            const int oh = out_size(h, fh, sh, 1, same), ow = out_size(w, fw, sw, 1, same);
            const int ph = pad_before(h, oh, fh, sh, 1), pw = pad_before(w, ow, fw, sw, 1);
            std::vector<float> y(std::size_t(b) * oh * ow * c);
            pool_f32(pp, x.data(), y.data());
            std::vector<double> want;
            for (int bb = 0; bb < b; ++bb)
                for (int oy = 0; oy < oh; ++oy)
                    for (int ox = 0; ox < ow; ++ox)
                        for (int ch = 0; ch < c; ++ch) {
                            double s = 0, top = -1e30;
                            int count = 0;
                            for (int ky = 0; ky < fh; ++ky)
                                for (int kx = 0; kx < fw; ++kx) {
                                    const int iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                    const double v = x[((std::size_t(bb) * h + iy) * w + ix) * c + ch];
                                    s += v;
                                    top = std::max(top, v);
                                    ++count;
                                }
                            want.push_back(kind == pool_f32_kind::max ? top : s / count);
                        }
            check_close(y, want, 1e-6);
        }
}

TEST_CASE("elementwise_f32: activations at hand-picked points") {
    const std::vector<float> x{-4, -1, -0.5f, 0, 0.5f, 2, 7};
    std::vector<float> y(x.size());
    unary_f32(unary_f32_kind::relu, x.data(), y.data(), x.size());
    CHECK(y == std::vector<float>{0, 0, 0, 0, 0.5f, 2, 7});
    unary_f32(unary_f32_kind::relu6, x.data(), y.data(), x.size());
    CHECK(y == std::vector<float>{0, 0, 0, 0, 0.5f, 2, 6});
    unary_f32(unary_f32_kind::relu_n1_to_1, x.data(), y.data(), x.size());
    CHECK(y == std::vector<float>{-1, -1, -0.5f, 0, 0.5f, 1, 1});
    unary_f32(unary_f32_kind::leaky_relu, x.data(), y.data(), x.size(), 0.25f);
    CHECK(y == std::vector<float>{-1, -0.25f, -0.125f, 0, 0.5f, 2, 7});
    unary_f32(unary_f32_kind::hard_swish, x.data(), y.data(), x.size());
    // x * relu6(x + 3) / 6: -4 -> 0; -1 -> -1/3; -0.5 -> -0.5*2.5/6; 0 -> 0; 0.5 -> 0.5*3.5/6; 2 -> 2*5/6; 7 -> 7
    CHECK(y[0] == 0.0f);
    CHECK(y[1] == doctest::Approx(-1.0 / 3));
    CHECK(y[2] == doctest::Approx(-1.25 / 6));
    CHECK(y[4] == doctest::Approx(1.75 / 6));
    CHECK(y[5] == doctest::Approx(10.0 / 6));
    CHECK(y[6] == 7.0f);
    unary_f32(unary_f32_kind::logistic, x.data(), y.data(), x.size());
    CHECK(y[3] == 0.5f);
    CHECK(y[5] == doctest::Approx(1 / (1 + std::exp(-2.0))));
    unary_f32(unary_f32_kind::tanh, x.data(), y.data(), x.size());
    CHECK(y[3] == 0.0f);
    CHECK(y[1] == doctest::Approx(-0.7615941559557649));
}

TEST_CASE("elementwise_f32: broadcast add, sub, mul with a fused clamp") {
    // [2, 3] op [3] and [2, 1] op [1, 3]
    const std::vector<float> a{1, 2, 3, 4, 5, 6}, row{10, 20, 30}, col{1, -1};
    std::vector<float> y(6);
    binary_f32(binary_f32_kind::add, qtl::ops::plan_broadcast({2, 3}, {3}, "t"), a.data(), row.data(), y.data());
    CHECK(y == std::vector<float>{11, 22, 33, 14, 25, 36});
    binary_f32(binary_f32_kind::sub, qtl::ops::plan_broadcast({3}, {2, 3}, "t"), row.data(), a.data(), y.data());
    CHECK(y == std::vector<float>{9, 18, 27, 6, 15, 24});
    binary_f32(binary_f32_kind::mul, qtl::ops::plan_broadcast({2, 1}, {1, 3}, "t"), col.data(), row.data(), y.data(),
               -15.0f, 25.0f);
    CHECK(y == std::vector<float>{10, 20, 25, -10, -15, -15});
    const float s = 2.0f;
    binary_f32(binary_f32_kind::mul, qtl::ops::plan_broadcast({2, 3}, {}, "t"), a.data(), &s, y.data());
    CHECK(y == std::vector<float>{2, 4, 6, 8, 10, 12});
}

TEST_CASE("elementwise_f32: softmax rows with beta") {
    // row [0, ln 3] with beta 1 -> [1/4, 3/4]; beta 2 -> weights 1 and 9 -> [0.1, 0.9]
    const std::vector<float> x{0, std::log(3.0f), 5, 5};
    std::vector<float> y(4);
    softmax_f32(x.data(), y.data(), 2, 2, 1.0f);
    CHECK(y[0] == doctest::Approx(0.25));
    CHECK(y[1] == doctest::Approx(0.75));
    CHECK(y[2] == doctest::Approx(0.5));
    softmax_f32(x.data(), y.data(), 2, 2, 2.0f);
    CHECK(y[0] == doctest::Approx(0.1));
    CHECK(y[1] == doctest::Approx(0.9));
}

TEST_CASE("layout_f32: pad, transpose, concatenation, strided slice, mean") {
    const std::vector<float> x{1, 2, 3, 4, 5, 6};  // [2, 3]
    std::vector<float> y(4 * 4);
    pad_f32(x.data(), {2, 3}, {{1, 1}, {0, 1}}, -1.0f, y.data());  // -> [4, 4]
    CHECK(y == std::vector<float>{-1, -1, -1, -1, 1, 2, 3, -1, 4, 5, 6, -1, -1, -1, -1, -1});

    y.assign(6, 0);
    transpose_f32(x.data(), {2, 3}, {1, 0}, y.data());
    CHECK(y == std::vector<float>{1, 4, 2, 5, 3, 6});
    // [1, 2, 3] with perm (2, 0, 1) -> [3, 1, 2]
    transpose_f32(x.data(), {1, 2, 3}, {2, 0, 1}, y.data());
    CHECK(y == std::vector<float>{1, 4, 2, 5, 3, 6});

    const std::vector<float> b{7, 8};  // [2, 1]
    y.assign(8, 0);
    concatenation_f32({x.data(), b.data()}, {{2, 3}, {2, 1}}, 1, y.data());
    CHECK(y == std::vector<float>{1, 2, 3, 7, 4, 5, 6, 8});
    CHECK_THROWS_AS(concatenation_f32_shape({{2, 3}, {3, 1}}, 1, "t"), qtl::error);

    // x[:, ::-2] -> [[3, 1], [6, 4]]; shrink row 1 -> [4, 5, 6]
    auto plan = plan_strided_slice_f32({2, 3}, {0, -1}, {2, -4}, {1, -2}, 0, 0, 0, 0, 0, false);
    CHECK(plan.output_shape == qtl::shape{2, 2});
    y.assign(4, 0);
    strided_slice_f32(plan, x.data(), y.data());
    CHECK(y == std::vector<float>{3, 1, 6, 4});
    plan = plan_strided_slice_f32({2, 3}, {1, 0}, {2, 0}, {1, 1}, 0, 2, 0, 0, 1, false);
    CHECK(plan.output_shape == qtl::shape{3});
    strided_slice_f32(plan, x.data(), y.data());
    CHECK(std::vector<float>(y.begin(), y.begin() + 3) == std::vector<float>{4, 5, 6});

    y.assign(3, 0);
    mean_f32(x.data(), {2, 3}, {0}, y.data());
    CHECK(y == std::vector<float>{2.5f, 3.5f, 4.5f});
    mean_f32(x.data(), {2, 3}, {-1, 1}, y.data());
    CHECK(y[0] == 2.0f);
    CHECK(y[1] == 5.0f);
    CHECK(mean_f32_shape({2, 3, 4}, {1}, true, "t") == qtl::shape{2, 1, 4});
    CHECK(mean_f32_shape({2, 3, 4}, {1, 2}, false, "t") == qtl::shape{2});
}

namespace {

// Row-major multi-index of flat index i in shape s, and back.
std::vector<int> unravel(std::size_t i, const qtl::shape& s) {
    std::vector<int> idx(s.size());
    for (std::size_t d = s.size(); d-- > 0;) {
        idx[d] = int(i % std::size_t(s[d]));
        i /= std::size_t(s[d]);
    }
    return idx;
}
std::size_t ravel(const std::vector<int>& idx, const qtl::shape& s) {
    std::size_t i = 0;
    for (std::size_t d = 0; d < s.size(); ++d) i = i * std::size_t(s[d]) + std::size_t(idx[d]);
    return i;
}

}  // namespace

TEST_CASE("elementwise_f32 and layout_f32: random rank-4 cases against index arithmetic") {
    std::mt19937 rng(23);
    std::uniform_int_distribution<int> dim(1, 4), coin(0, 1);
    for (int trial = 0; trial < 40; ++trial) {
        CAPTURE(trial);
        qtl::shape full{dim(rng), dim(rng), dim(rng), dim(rng)}, a = full, b = full;
        for (std::size_t d = 0; d < 4; ++d) {
            if (coin(rng)) a[d] = 1;
            else if (coin(rng)) b[d] = 1;
        }
        const auto x = random_floats(qtl::num_elements(a), rng), y = random_floats(qtl::num_elements(b), rng);
        std::vector<float> out(qtl::num_elements(full));
        binary_f32(binary_f32_kind::sub, qtl::ops::plan_broadcast(a, b, "t"), x.data(), y.data(), out.data());
        std::vector<double> want;
        for (std::size_t i = 0; i < out.size(); ++i) {
            auto idx = unravel(i, full), ia = idx, ib = idx;
            for (std::size_t d = 0; d < 4; ++d) {
                if (a[d] == 1) ia[d] = 0;
                if (b[d] == 1) ib[d] = 0;
            }
            want.push_back(double(x[ravel(ia, a)]) - double(y[ravel(ib, b)]));
        }
        check_close(out, want, 1e-6);

        // TRANSPOSE with a random permutation
        std::vector<std::int32_t> perm{0, 1, 2, 3};
        std::shuffle(perm.begin(), perm.end(), rng);
        const auto t = random_floats(qtl::num_elements(full), rng);
        const qtl::shape tshape = transpose_f32_shape(full, perm, "t");
        std::vector<float> tout(t.size());
        transpose_f32(t.data(), full, perm, tout.data());
        std::vector<double> twant;
        for (std::size_t i = 0; i < tout.size(); ++i) {
            const auto o = unravel(i, tshape);
            std::vector<int> src(4);
            for (std::size_t d = 0; d < 4; ++d) src[std::size_t(perm[d])] = o[d];
            twant.push_back(t[ravel(src, full)]);
        }
        check_close(tout, twant, 0.0);

        // MEAN over a random subset of axes (keep_dims layout)
        std::vector<std::int32_t> axes;
        for (std::int32_t d = 0; d < 4; ++d)
            if (coin(rng)) axes.push_back(coin(rng) ? d : d - 4);
        const qtl::shape kept = mean_f32_shape(full, axes, true, "t");
        std::vector<float> mout(qtl::num_elements(kept));
        mean_f32(t.data(), full, axes, mout.data());
        std::vector<double> sums(mout.size(), 0.0);
        for (std::size_t i = 0; i < t.size(); ++i) {
            auto idx = unravel(i, full);
            for (std::size_t d = 0; d < 4; ++d)
                if (kept[d] == 1) idx[d] = 0;
            sums[ravel(idx, kept)] += t[i];
        }
        const double count = double(t.size()) / double(mout.size());
        for (auto& s : sums) s /= count;
        check_close(mout, sums, 1e-5);

        // PAD with random before/after
        std::vector<std::pair<std::int64_t, std::int64_t>> pads;
        for (int d = 0; d < 4; ++d) pads.emplace_back(dim(rng) - 1, dim(rng) - 1);
        const qtl::shape pshape = pad_f32_shape(full, pads, "t");
        std::vector<float> pout(qtl::num_elements(pshape));
        pad_f32(t.data(), full, pads, 0.25f, pout.data());
        std::vector<double> pwant;
        for (std::size_t i = 0; i < pout.size(); ++i) {
            auto idx = unravel(i, pshape);
            bool inside = true;
            for (std::size_t d = 0; d < 4; ++d) {
                idx[d] -= int(pads[d].first);
                inside = inside && idx[d] >= 0 && idx[d] < full[d];
            }
            pwant.push_back(inside ? t[ravel(idx, full)] : 0.25);
        }
        check_close(pout, pwant, 0.0);

        // CONCATENATION of `full` with a copy resized along a random axis
        const int axis = std::uniform_int_distribution<int>(0, 3)(rng);
        qtl::shape other = full;
        other[std::size_t(axis)] = dim(rng);
        const auto u = random_floats(qtl::num_elements(other), rng);
        const qtl::shape cshape = concatenation_f32_shape({full, other}, axis, "t");
        std::vector<float> cout(qtl::num_elements(cshape));
        concatenation_f32({t.data(), u.data()}, {full, other}, axis, cout.data());
        std::vector<double> cwant;
        for (std::size_t i = 0; i < cout.size(); ++i) {
            auto idx = unravel(i, cshape);
            if (idx[std::size_t(axis)] < full[std::size_t(axis)]) {
                cwant.push_back(t[ravel(idx, full)]);
            } else {
                idx[std::size_t(axis)] -= full[std::size_t(axis)];
                cwant.push_back(u[ravel(idx, other)]);
            }
        }
        check_close(cout, cwant, 0.0);
    }
}
