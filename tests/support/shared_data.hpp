#pragma once
// Test helpers for the data in ../shared (never copied into the repo):
// the path of a file there, and the one-line CSV goldens of
// ../shared/models/seanet (comma-separated integers, row-major).

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace qtl::test {

// Absolute path of `relative` under ../shared; fails the test with a clear
// message when the file is missing (CI has ../shared beside the checkout).
inline std::filesystem::path shared_file(const std::string& relative) {
    const std::filesystem::path path = std::filesystem::path(QTL_SHARED_DIR) / relative;
    INFO("shared data file: " << path.string());
    REQUIRE_MESSAGE(std::filesystem::exists(path),
                    "missing " << path.string() << " (the project expects ../shared beside the checkout)");
    return path;
}

// Reads a seanet golden CSV as integers of type T; the test fails on a
// malformed number or a value outside T's range.
template <class T>
std::vector<T> read_csv_integers(const std::string& relative) {
    const auto path = shared_file(relative);
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path.string());
    std::vector<T> values;
    std::string field;
    while (std::getline(in, field, ',')) {
        std::istringstream number(field);
        long long v = 0;
        number >> v;
        REQUIRE_MESSAGE(!number.fail(), path.string() << ": not an integer: '" << field << "'");
        REQUIRE_MESSAGE((v >= static_cast<long long>(std::numeric_limits<T>::min()) &&
                         v <= static_cast<long long>(std::numeric_limits<T>::max())),
                        path.string() << ": " << v << " does not fit the element type");
        values.push_back(static_cast<T>(v));
    }
    REQUIRE_MESSAGE(!values.empty(), path.string() << " holds no values");
    return values;
}

}  // namespace qtl::test
