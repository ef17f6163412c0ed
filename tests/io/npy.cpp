#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "qtl/io/npy.hpp"

namespace fs = std::filesystem;

namespace {

// NumPy (Debian's python3-numpy) is the independent oracle: it writes files
// for qtl to read and reads the files qtl writes.
int python(const std::string& code) {
    const fs::path script = fs::temp_directory_path() / "qtl_npy_test.py";
    FILE* f = std::fopen(script.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs(code.c_str(), f);
    std::fclose(f);
    return std::system(("/usr/bin/python3 " + script.string()).c_str());
}

fs::path temp_dir() {
    const fs::path d = fs::temp_directory_path() / "qtl_npy_test";
    fs::create_directories(d);
    return d;
}

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("npy: reads what NumPy writes, every dtype, both byte orders, C and Fortran order") {
    const auto d = temp_dir().string();
    REQUIRE(python("import numpy as np\n"
                   "d='" + d + "'\n"
                   "a=np.arange(24).reshape(2,3,4)\n"
                   "np.save(d+'/f4.npy', (a*0.5-3).astype('<f4'))\n"
                   "np.save(d+'/f8be.npy', (a*0.25).astype('>f8'))\n"
                   "np.save(d+'/i1.npy', (a-12).astype('i1'))\n"
                   "np.save(d+'/u1.npy', (a*10).astype('u1'))\n"
                   "np.save(d+'/i2be.npy', (a*-1000).astype('>i2'))\n"
                   "np.save(d+'/i4.npy', (a*100000).astype('<i4'))\n"
                   "np.save(d+'/i8.npy', (a*(1<<40)).astype('<i8'))\n"
                   "np.save(d+'/b1.npy', (a%3==0))\n"
                   "np.save(d+'/fortran.npy', np.asfortranarray((a-5).astype('i2')))\n"
                   "np.save(d+'/scalar.npy', np.float32(7.5))\n"
                   "np.save(d+'/empty.npy', np.zeros((0,3),'f4'))\n") == 0);
    const auto f4 = qtl::npy::read_file(d + "/f4.npy");
    CHECK(f4.type == qtl::npy::dtype::float32);
    CHECK(f4.shape == qtl::shape{2, 3, 4});
    for (int i = 0; i < 24; ++i) CHECK(f4.values<float>()[i] == i * 0.5f - 3);
    const auto f8 = qtl::npy::read_file(d + "/f8be.npy");
    for (int i = 0; i < 24; ++i) CHECK(f8.values<double>()[i] == i * 0.25);
    const auto i1 = qtl::npy::read_file(d + "/i1.npy");
    for (int i = 0; i < 24; ++i) CHECK(i1.values<std::int8_t>()[i] == i - 12);
    const auto u1 = qtl::npy::read_file(d + "/u1.npy");
    for (int i = 0; i < 24; ++i) CHECK(u1.values<std::uint8_t>()[i] == std::uint8_t(i * 10));
    const auto i2 = qtl::npy::read_file(d + "/i2be.npy");
    for (int i = 0; i < 24; ++i) CHECK(i2.values<std::int16_t>()[i] == i * -1000);
    const auto i4 = qtl::npy::read_file(d + "/i4.npy");
    for (int i = 0; i < 24; ++i) CHECK(i4.values<std::int32_t>()[i] == i * 100000);
    const auto i8 = qtl::npy::read_file(d + "/i8.npy");
    for (int i = 0; i < 24; ++i) CHECK(i8.values<std::int64_t>()[i] == std::int64_t(i) << 40);
    const auto b1 = qtl::npy::read_file(d + "/b1.npy");
    for (int i = 0; i < 24; ++i) CHECK(b1.values<bool>()[i] == (i % 3 == 0));
    const auto fo = qtl::npy::read_file(d + "/fortran.npy");  // transposed back to C order
    CHECK(fo.shape == qtl::shape{2, 3, 4});
    for (int i = 0; i < 24; ++i) CHECK(fo.values<std::int16_t>()[i] == i - 5);
    const auto sc = qtl::npy::read_file(d + "/scalar.npy");
    CHECK(sc.shape.empty());
    CHECK(sc.values<float>()[0] == 7.5f);
    CHECK(qtl::npy::read_file(d + "/empty.npy").shape == qtl::shape{0, 3});
    // conversion helper
    CHECK(i1.as<float>()[0] == -12.0f);
    CHECK_THROWS_WITH_AS(i1.values<float>("x"), "x: expected dtype float32, the array holds int8", qtl::error);
}

TEST_CASE("npy: NumPy reads what qtl writes") {
    const auto d = temp_dir().string();
    const std::vector<float> f{1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, -1e30f};
    const std::vector<std::int8_t> q{-128, 127, 0, 5};
    const std::vector<std::int16_t> s{-32768, 32767, 7};
    qtl::npy::write_file(d + "/w_f4.npy", qtl::npy::make_array<float>(f, {2, 3}));
    qtl::npy::write_file(d + "/w_i1.npy", qtl::npy::make_array<std::int8_t>(q, {4}));
    qtl::npy::write_file(d + "/w_i2.npy", qtl::npy::make_array<std::int16_t>(s, {1, 3, 1}));
    qtl::npy::write_file(d + "/w_scalar.npy", qtl::npy::make_array<std::int8_t>(std::span(q).first(1), {}));
    CHECK(python("import numpy as np\n"
                 "d='" + d + "'\n"
                 "a=np.load(d+'/w_f4.npy'); assert a.dtype==np.float32 and a.shape==(2,3), a\n"
                 "assert (a.ravel()==np.array([1.5,-2.0,3.25,0.0,1e-7,-1e30],'f4')).all()\n"
                 "b=np.load(d+'/w_i1.npy'); assert b.dtype==np.int8 and b.shape==(4,) and list(b)==[-128,127,0,5]\n"
                 "c=np.load(d+'/w_i2.npy'); assert c.dtype==np.int16 and c.shape==(1,3,1) and list(c.ravel())==[-32768,32767,7]\n"
                 "e=np.load(d+'/w_scalar.npy'); assert e.shape==() and e==-128\n") == 0);
    // and qtl reads its own files back identically
    const auto back = qtl::npy::read_file(d + "/w_f4.npy");
    CHECK(back.as<float>() == f);
}

TEST_CASE("npy: a hand-built version 1.0 file and its malformed variants") {
    // magic, v1.0, 2-byte header length, header padded with spaces so that the data starts at 128
    std::string header = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }";
    header.append(128 - 10 - header.size() - 1, ' ');
    header += '\n';
    std::string file = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + '\0' + header + std::string("\x01\x00\xff\xff", 4);
    const auto a = qtl::npy::read(bytes_of(file), "hand");
    CHECK(a.values<std::int16_t>()[0] == 1);
    CHECK(a.values<std::int16_t>()[1] == -1);

    CHECK_THROWS_WITH_AS(qtl::npy::read(bytes_of("PK\x03\x04 not npy"), "x"), "npy 'x': not a .npy file (bad magic)",
                         qtl::error);
    for (std::size_t cut = 0; cut < file.size(); ++cut)  // every truncation is an error, never a crash
        CHECK_THROWS_AS(qtl::npy::read(bytes_of(file.substr(0, cut)), "cut"), qtl::error);
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string f = file;
        f.replace(f.find(from), from.size(), to);
        return bytes_of(f);
    };
    CHECK_THROWS_WITH_AS(qtl::npy::read(replace("<i2", "<c8"), "x"),
                         "npy 'x': unsupported dtype '<c8' (qtl reads bool, int8/16/32/64, uint8, float32/64)", qtl::error);
    CHECK_THROWS_AS(qtl::npy::read(replace("(2,)", "(3,)"), "x"), qtl::error);   // too little data
    CHECK_THROWS_AS(qtl::npy::read(replace("(2,)", "(1,)"), "x"), qtl::error);   // trailing bytes
    CHECK_THROWS_AS(qtl::npy::read(replace("(2,)", "(-2,)"), "x"), qtl::error);  // not a dimension
    CHECK_THROWS_AS(qtl::npy::read(replace("(2,)", "(99999999999,)"), "x"), qtl::error);
    CHECK_THROWS_AS(qtl::npy::read(replace("False", "Maybe"), "x"), qtl::error);
    CHECK_THROWS_AS(qtl::npy::read(replace("'shape'", "'shope'"), "x"), qtl::error);
    CHECK_THROWS_AS(qtl::npy::read(replace("\x01\x00", "\x07\x00"), "x"), qtl::error);  // version 7
    CHECK_THROWS_AS(qtl::npy::read_file("/nonexistent/file.npy"), qtl::error);
}
