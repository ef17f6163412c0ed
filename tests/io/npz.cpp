#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "qtl/io/npz.hpp"

namespace fs = std::filesystem;

namespace {

int python(const std::string& code) {
    const fs::path script = fs::temp_directory_path() / "qtl_npz_test.py";
    FILE* f = std::fopen(script.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs(code.c_str(), f);
    std::fclose(f);
    return std::system(("/usr/bin/python3 " + script.string()).c_str());
}

fs::path temp_dir() {
    const fs::path d = fs::temp_directory_path() / "qtl_npz_test";
    fs::create_directories(d);
    return d;
}

}  // namespace

TEST_CASE("npz: reads numpy.savez and numpy.savez_compressed archives") {
    const auto d = temp_dir().string();
    REQUIRE(python("import numpy as np\n"
                   "d='" + d + "'\n"
                   "w=(np.arange(12).reshape(3,4)*0.5).astype('f4'); b=np.arange(3).astype('f4')-1\n"
                   "np.savez(d+'/plain.npz', dense_kernel=w, dense_bias=b, steps=np.int64(5))\n"
                   "np.savez_compressed(d+'/compressed.npz', dense_kernel=w, big=np.ones((300,300),'f4'))\n") == 0);
    for (const auto* name : {"/plain.npz", "/compressed.npz"}) {
        const auto z = qtl::npz::read_file(d + name);
        REQUIRE(z.count("dense_kernel") == 1);
        const auto& w = z.at("dense_kernel");
        CHECK(w.shape == qtl::shape{3, 4});
        for (int i = 0; i < 12; ++i) CHECK(w.values<float>()[i] == i * 0.5f);
    }
    const auto plain = qtl::npz::read_file(d + "/plain.npz");
    CHECK(plain.size() == 3);
    CHECK(plain.at("dense_bias").as<float>() == std::vector<float>{-1, 0, 1});
    CHECK(plain.at("steps").values<std::int64_t>()[0] == 5);
    const auto big = qtl::npz::read_file(d + "/compressed.npz").at("big");
    CHECK(big.size() == 90000);
    CHECK(big.values<float>()[89999] == 1.0f);
}

TEST_CASE("npz: numpy.load reads what qtl writes") {
    const auto d = temp_dir().string();
    const std::vector<float> k{1, 2, 3, 4, 5, 6};
    const std::vector<std::int8_t> q{-1, 1};
    qtl::npz::write_file(d + "/qtl.npz", {{"kernel", qtl::npy::make_array<float>(k, {2, 3})},
                                          {"q", qtl::npy::make_array<std::int8_t>(q, {2})}});
    CHECK(python("import numpy as np\n"
                 "z=np.load('" + d + "/qtl.npz')\n"
                 "assert sorted(z.files)==['kernel','q'], z.files\n"
                 "assert (z['kernel']==np.arange(1,7,dtype='f4').reshape(2,3)).all()\n"
                 "assert z['q'].dtype==np.int8 and list(z['q'])==[-1,1]\n") == 0);
    CHECK(qtl::npz::read_file(d + "/qtl.npz").at("kernel").as<float>() == k);
}

TEST_CASE("npz: corrupt archives are errors, never crashes") {
    const std::vector<float> k{1, 2, 3, 4, 5, 6};
    const auto good = qtl::npz::write({{"kernel", qtl::npy::make_array<float>(k, {2, 3})}});
    CHECK_NOTHROW(qtl::npz::read(good, "good"));
    for (std::size_t cut = 0; cut < good.size(); cut += 3) {
        std::vector<std::uint8_t> t(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
        CHECK_THROWS_AS(qtl::npz::read(t, "cut"), qtl::error);
    }
    int detected = 0, harmless = 0;
    for (std::size_t i = 0; i < good.size(); ++i) {  // every single-byte corruption: an error, or the same array
        auto bad = good;
        bad[i] ^= 0x5A;
        qtl::npz::archive z;
        try {
            z = qtl::npz::read(bad, "flip");
        } catch (const qtl::error&) {
            ++detected;
            continue;
        }
        ++harmless;  // e.g. a flipped timestamp or version changes nothing
        REQUIRE(z.count("kernel") == 1);
        CHECK(z.at("kernel").as<float>() == k);
    }
    CHECK(detected > harmless);
    auto crc_bad = good;
    crc_bad[100] ^= 1;  // inside the .npy data of the only entry
    CHECK_THROWS_WITH_AS(qtl::npz::read(crc_bad, "x"), "npz 'x' entry 'kernel.npy': CRC-32 mismatch", qtl::error);
}
