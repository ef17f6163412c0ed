#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"

namespace {

std::string streamed(const qtl::shape& s) {
    std::ostringstream out;
    out << qtl::shape_text(s);
    return out.str();
}

std::string message_of(const qtl::shape& s, const char* where) {
    try {
        (void)qtl::num_elements(s, where);
    } catch (const qtl::error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("shape_text prints a shape as to_string does, only when streamed") {
    CHECK(streamed({}) == "[]");
    CHECK(streamed({7}) == "[7]");
    CHECK(streamed({1, 224, 224, 3}) == "[1, 224, 224, 3]");
    CHECK(streamed({2, -1}) == "[2, -1]");
    for (const qtl::shape& s : {qtl::shape{}, qtl::shape{0}, qtl::shape{1, 112, 112, 32}, qtl::shape{-5, 3}})
        CHECK(streamed(s) == qtl::to_string(s));
}

TEST_CASE("num_elements: counts, and says where and which shape is bad") {
    CHECK(qtl::num_elements({}) == 1);
    CHECK(qtl::num_elements({1, 224, 224, 3}) == 150528);
    CHECK(qtl::num_elements({4, 0, 9}) == 0);
    CHECK(message_of({2, -1}, "tensor 'x'") == "tensor 'x': dimension 1 of [2, -1] is negative");
    // 2^21 * 2^21 = 2^42 elements
    CHECK(message_of({2097152, 2097152}, "a long place name past any short-string buffer") ==
          "a long place name past any short-string buffer: shape [2097152, 2097152] has more than 2^40 elements");
}
