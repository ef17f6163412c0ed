// examples/mnist/train.hpp: the generator against splitmix64's published
// first outputs, the per-image gradient against finite differences of a
// double-precision loss written here, and training on a separable toy set.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "../../examples/mnist/train.hpp"

using namespace qtl::mnist;

TEST_CASE("rng is splitmix64") {
    rng g(0);
    CHECK(g.next() == 0xE220A8397B1DCDAFull);
    CHECK(g.next() == 0x6E789E6AA1B965F4ull);
    rng u(1);
    for (int i = 0; i < 1000; ++i) {
        const double x = u.uniform();
        REQUIRE((x >= 0.0 && x < 1.0));
        REQUIRE(u.below(7) < 7);
    }
}

TEST_CASE("mlp_logits: dense, ReLU, dense by hand") {
    // hidden: 2 inputs -> 2 units; output: 2 -> 2.
    std::vector<float> w1{1, 2, -1, 1}, b1{0.5f, -3}, w2{1, 0, 2, -1}, b2{0, 1};
    dense_ref h{w1, b1, 2, 2}, o{w2, b2, 2, 2};
    std::vector<float> x{1, 1};
    // pre = (1+2+0.5, -1+1-3) = (3.5, -3) -> relu (3.5, 0); z = (3.5, 7+1) = (3.5, 8)
    const auto z = mlp_logits(h, o, x);
    REQUIRE(z.size() == 2);
    CHECK(z[0] == doctest::Approx(3.5));
    CHECK(z[1] == doctest::Approx(8.0));
    CHECK(argmax(z) == 1);
    std::vector<float> wrong{1, 2, 3};
    CHECK_THROWS_AS(mlp_logits(h, o, wrong), qtl::error);
}

namespace {

// The loss of one image in double precision, written independently.
double loss_of(const std::vector<float>& w1, const std::vector<float>& b1, const std::vector<float>& w2,
               const std::vector<float>& b2, const std::vector<std::uint8_t>& img, std::size_t D, std::size_t H,
               std::size_t C, std::size_t label) {
    std::vector<double> h(H), z(C);
    for (std::size_t j = 0; j < H; ++j) {
        double a = b1[j];
        for (std::size_t i = 0; i < D; ++i) a += double(w1[j * D + i]) * (img[i] / 255.0);
        h[j] = a > 0 ? a : 0;
    }
    double zmax = -1e300;
    for (std::size_t c = 0; c < C; ++c) {
        double a = b2[c];
        for (std::size_t j = 0; j < H; ++j) a += double(w2[c * H + j]) * h[j];
        z[c] = a;
        zmax = std::max(zmax, a);
    }
    double s = 0;
    for (double v : z) s += std::exp(v - zmax);
    return std::log(s) + zmax - z[label];
}

}  // namespace

TEST_CASE("gradient_accumulator matches finite differences") {
    const std::size_t D = 6, H = 4, C = 3;
    rng g(5);
    std::vector<float> w1(H * D), b1(H), w2(C * H), b2(C);
    for (auto& v : w1) v = float(g.uniform() - 0.5);
    for (auto& v : w2) v = float(2 * g.uniform() - 1);
    for (auto& v : b2) v = float(g.uniform() - 0.5);
    b1 = {0.6f, -0.7f, 0.5f, 0.8f};  // unit 1 firmly off, the others firmly on (checked below)
    const std::vector<std::uint8_t> img{0, 255, 128, 0, 64, 200};
    const std::size_t label = 2;
    dense_ref hidden{w1, b1, D, H}, output{w2, b2, H, C};
    for (std::size_t j = 0; j < H; ++j) {  // keep away from ReLU's kink
        double a = b1[j];
        for (std::size_t i = 0; i < D; ++i) a += w1[j * D + i] * (img[i] / 255.0);
        REQUIRE(std::abs(a) > 0.05);
    }

    gradient_accumulator acc(hidden, output);
    acc.zero();
    std::size_t predicted = 99;
    const double loss = acc.accumulate(hidden, output, img, label, predicted);
    CHECK(loss == doctest::Approx(loss_of(w1, b1, w2, b2, img, D, H, C, label)).epsilon(1e-5));
    CHECK(predicted < C);

    const float eps = 1e-2f;
    auto check_grad = [&](std::vector<float>& param, const std::vector<float>& grad, const char* name) {
        for (std::size_t k = 0; k < param.size(); ++k) {
            const float keep = param[k];
            param[k] = keep + eps;
            const double up = loss_of(w1, b1, w2, b2, img, D, H, C, label);
            param[k] = keep - eps;
            const double down = loss_of(w1, b1, w2, b2, img, D, H, C, label);
            param[k] = keep;
            CAPTURE(name);
            CAPTURE(k);
            CHECK(grad[k] == doctest::Approx((up - down) / (2.0 * eps)).epsilon(1e-3).scale(1e-3));
        }
    };
    check_grad(w1, acc.w1, "w1");
    check_grad(b1, acc.b1, "b1");
    check_grad(w2, acc.w2, "w2");
    check_grad(b2, acc.b2, "b2");

    // A second image adds to the sums.
    const auto w2_once = acc.w2;
    acc.accumulate(hidden, output, img, label, predicted);
    for (std::size_t k = 0; k < w2_once.size(); ++k) CHECK(acc.w2[k] == doctest::Approx(2 * w2_once[k]));
}

namespace {

// Ten classes; class c lights pixel band [70c, 70c + 70) plus noise pixels.
image_set toy_set(std::size_t per_class, std::uint64_t seed) {
    rng g(seed);
    image_set s;
    std::vector<std::uint8_t> img(image_size);
    for (std::size_t n = 0; n < per_class; ++n)
        for (std::uint8_t c = 0; c < 10; ++c) {
            std::fill(img.begin(), img.end(), 0);
            for (std::size_t i = 70u * c; i < 70u * c + 70; ++i) img[i] = g.below(2) ? 255 : 0;
            for (int k = 0; k < 20; ++k) img[g.below(image_size)] = static_cast<std::uint8_t>(g.below(256));
            s.push_back(img, c);
        }
    return s;
}

}  // namespace

TEST_CASE("train_mlp learns a separable toy problem, deterministically") {
    const auto train = toy_set(30, 1), test = toy_set(10, 2);
    std::vector<float> w1(128 * image_size), b1(128), w2(10 * 128), b2(10);
    dense_ref h{w1, b1, image_size, 128}, o{w2, b2, 128, 10};
    train_options opt;
    opt.epochs = 4;
    const auto r = train_mlp(h, o, train, opt);
    REQUIRE(r.epochs.size() == 4);
    CHECK(r.epochs.back().mean_loss < r.epochs.front().mean_loss);
    CHECK(r.epochs.back().train_accuracy == 1.0);
    CHECK(mlp_accuracy(h, o, test) == 1.0);

    std::vector<float> w1b(w1.size()), b1b(b1.size()), w2b(w2.size()), b2b(b2.size());
    dense_ref h2{w1b, b1b, image_size, 128}, o2{w2b, b2b, 128, 10};
    train_mlp(h2, o2, train, opt);
    CHECK(w1b == w1);
    CHECK(w2b == w2);
    opt.seed += 1;
    train_mlp(h2, o2, train, opt);
    CHECK(w1b != w1);

    dense_ref wrong{w2, b2, 128, 10};
    CHECK_THROWS_AS(train_mlp(wrong, o, train, opt), qtl::error);  // takes 128 inputs, images have 784
}
