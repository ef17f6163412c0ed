#pragma once
// .npy files (NumPy's array format, versions 1.0, 2.0 and 3.0): read and write.
//
// A file is the magic "\x93NUMPY", a version, a little-endian header length,
// and a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), } padded with spaces and a newline, then the raw data.
// qtl reads every numeric dtype it can run (float32/64, int8/16/32/64,
// uint8, bool) in either byte order and C or Fortran order (Fortran data is
// transposed to C order on read), and writes version 1.0 (2.0 when the header
// is too long), C order, little-endian.  Anything malformed is a qtl::error
// naming the file and what is wrong; nothing is read out of bounds.

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"

namespace qtl::npy {

enum class dtype { boolean, int8, uint8, int16, int32, int64, float32, float64 };

constexpr std::size_t dtype_size(dtype t) noexcept {
    switch (t) {
        case dtype::boolean: case dtype::int8: case dtype::uint8: return 1;
        case dtype::int16: return 2;
        case dtype::int32: case dtype::float32: return 4;
        case dtype::int64: case dtype::float64: return 8;
    }
    return 0;
}

constexpr std::string_view dtype_name(dtype t) noexcept {
    switch (t) {
        case dtype::boolean: return "bool";
        case dtype::int8: return "int8";
        case dtype::uint8: return "uint8";
        case dtype::int16: return "int16";
        case dtype::int32: return "int32";
        case dtype::int64: return "int64";
        case dtype::float32: return "float32";
        case dtype::float64: return "float64";
    }
    return "?";
}

template <class T> constexpr dtype dtype_of() {
    if constexpr (std::is_same_v<T, bool>) return dtype::boolean;
    else if constexpr (std::is_same_v<T, std::int8_t>) return dtype::int8;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return dtype::uint8;
    else if constexpr (std::is_same_v<T, std::int16_t>) return dtype::int16;
    else if constexpr (std::is_same_v<T, std::int32_t>) return dtype::int32;
    else if constexpr (std::is_same_v<T, std::int64_t>) return dtype::int64;
    else if constexpr (std::is_same_v<T, float>) return dtype::float32;
    else if constexpr (std::is_same_v<T, double>) return dtype::float64;
    else static_assert(sizeof(T) == 0, "qtl::npy: no .npy dtype for this element type");
}

// An array as stored: dtype, C-order shape and native-endian, C-order bytes.
struct array {
    npy::dtype type = dtype::float32;
    qtl::shape shape;
    std::vector<std::uint8_t> bytes;

    std::size_t size() const { return num_elements(shape); }

    // The elements as T; throws unless T matches the stored dtype exactly.
    template <class T>
    std::span<const T> values(const std::string& where = "npy") const {
        check(dtype_of<T>() == type, where, "expected dtype ", dtype_name(dtype_of<T>()), ", the array holds ",
              dtype_name(type));
        return {reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T)};
    }
    // The elements converted to T (e.g. float32 from float64 or int8 data).
    template <class T>
    std::vector<T> as(const std::string& where = "npy") const;
};

template <class T>
array make_array(std::span<const T> values, qtl::shape shape) {
    array a{dtype_of<T>(), std::move(shape), {}};
    check(num_elements(a.shape) == values.size(), "npy::make_array", "shape ", shape_text(a.shape), " has ",
          num_elements(a.shape), " elements, got ", values.size());
    a.bytes.resize(values.size_bytes());
    if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), values.size_bytes());
    return a;
}

namespace detail {

// A tiny parser for the header's dict literal; it accepts what NumPy writes
// (and reasonable hand-written variants), nothing more.
class header_parser {
public:
    header_parser(std::string_view text, const std::string& where) : s_(text), where_(where) {}

    void parse(std::string& descr, bool& fortran, qtl::shape& shape) {
        bool have_descr = false, have_order = false, have_shape = false;
        expect('{');
        while (true) {
            skip_space();
            if (peek() == '}') break;
            const std::string key = string_literal();
            expect(':');
            if (key == "descr") descr = string_literal(), have_descr = true;
            else if (key == "fortran_order") fortran = boolean(), have_order = true;
            else if (key == "shape") shape = tuple(), have_shape = true;
            else fail("unknown header key '" + key + "'");
            skip_space();
            if (peek() == ',') ++pos_;
            else if (peek() != '}') fail("expected ',' or '}'");
        }
        check(have_descr && have_order && have_shape, where_,
              "header must have 'descr', 'fortran_order' and 'shape'");
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw error(where_, qtl::detail::concat("bad .npy header at character ", pos_, ": ", what));
    }
    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    void skip_space() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }
    void expect(char c) {
        skip_space();
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++pos_;
    }
    std::string string_literal() {
        skip_space();
        const char quote = peek();
        if (quote != '\'' && quote != '"') fail("expected a quoted string");
        const std::size_t end = s_.find(quote, pos_ + 1);
        if (end == std::string_view::npos) fail("unterminated string");
        std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
        pos_ = end + 1;
        return out;
    }
    bool boolean() {
        skip_space();
        if (s_.substr(pos_, 4) == "True") return pos_ += 4, true;
        if (s_.substr(pos_, 5) == "False") return pos_ += 5, false;
        fail("expected True or False");
    }
    qtl::shape tuple() {
        expect('(');
        qtl::shape out;
        while (true) {
            skip_space();
            if (peek() == ')') break;
            std::int64_t v = 0;
            std::size_t digits = 0;
            while (std::isdigit(static_cast<unsigned char>(peek()))) {
                v = v * 10 + (s_[pos_++] - '0');
                if (++digits > 10 || v > INT32_MAX) fail("dimension too large");
            }
            if (digits == 0) fail("expected a dimension");
            if (out.size() >= 32) fail("more than 32 dimensions");
            out.push_back(static_cast<std::int32_t>(v));
            skip_space();
            if (peek() == ',') ++pos_;
            else if (peek() != ')') fail("expected ',' or ')'");
        }
        ++pos_;
        return out;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    std::string where_;
};

inline void parse_descr(const std::string& descr, dtype& type, bool& swap, const std::string& where) {
    check(descr.size() >= 3, where, "unsupported dtype '", descr, "'");
    const char order = descr[0];
    const std::string kind = descr.substr(1);
    check(order == '<' || order == '>' || order == '|' || order == '=', where, "unsupported dtype '", descr, "'");
    if (kind == "b1") type = dtype::boolean;
    else if (kind == "i1") type = dtype::int8;
    else if (kind == "u1") type = dtype::uint8;
    else if (kind == "i2") type = dtype::int16;
    else if (kind == "i4") type = dtype::int32;
    else if (kind == "i8") type = dtype::int64;
    else if (kind == "f4") type = dtype::float32;
    else if (kind == "f8") type = dtype::float64;
    else throw error(where, "unsupported dtype '" + descr + "' (qtl reads bool, int8/16/32/64, uint8, float32/64)");
    const bool big = order == '>' || (order == '=' && std::endian::native == std::endian::big);
    swap = dtype_size(type) > 1 && big != (std::endian::native == std::endian::big);
}

inline void byte_swap(std::vector<std::uint8_t>& bytes, std::size_t width) {
    for (std::size_t i = 0; i + width <= bytes.size(); i += width) std::reverse(bytes.begin() + i, bytes.begin() + i + width);
}

// Fortran (column-major) data to C (row-major) order.
inline std::vector<std::uint8_t> fortran_to_c(const std::vector<std::uint8_t>& in, const qtl::shape& s, std::size_t width) {
    std::vector<std::uint8_t> out(in.size());
    const std::size_t n = in.size() / width;
    std::vector<std::size_t> idx(s.size(), 0);
    for (std::size_t c = 0; c < n; ++c) {  // c walks C order; compute the Fortran offset of the same index
        std::size_t f = 0, stride = 1;
        for (std::size_t d = 0; d < s.size(); ++d) f += idx[d] * stride, stride *= static_cast<std::size_t>(s[d]);
        std::memcpy(out.data() + c * width, in.data() + f * width, width);
        for (std::size_t d = s.size(); d-- > 0;) {
            if (++idx[d] < static_cast<std::size_t>(s[d])) break;
            idx[d] = 0;
        }
    }
    return out;
}

template <class To, class From>
void convert_into(std::vector<To>& out, const std::uint8_t* bytes, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        From v;
        std::memcpy(&v, bytes + i * sizeof(From), sizeof(From));
        out[i] = static_cast<To>(v);
    }
}

inline std::uint32_t read_le(const std::uint8_t* p, std::size_t n) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint32_t{p[i]} << (8 * i);
    return v;
}

}  // namespace detail

template <class T>
std::vector<T> array::as(const std::string& where) const {
    const std::size_t n = size();
    check(bytes.size() == n * dtype_size(type), where, "array holds ", bytes.size(), " bytes for ", n, " elements");
    std::vector<T> out(n);
    switch (type) {
        case dtype::boolean: detail::convert_into<T, bool>(out, bytes.data(), n); break;
        case dtype::int8: detail::convert_into<T, std::int8_t>(out, bytes.data(), n); break;
        case dtype::uint8: detail::convert_into<T, std::uint8_t>(out, bytes.data(), n); break;
        case dtype::int16: detail::convert_into<T, std::int16_t>(out, bytes.data(), n); break;
        case dtype::int32: detail::convert_into<T, std::int32_t>(out, bytes.data(), n); break;
        case dtype::int64: detail::convert_into<T, std::int64_t>(out, bytes.data(), n); break;
        case dtype::float32: detail::convert_into<T, float>(out, bytes.data(), n); break;
        case dtype::float64: detail::convert_into<T, double>(out, bytes.data(), n); break;
    }
    return out;
}

// Parses a whole .npy file held in memory.  `name` is used in error messages.
inline array read(std::span<const std::uint8_t> file, const std::string& name = "npy") {
    const std::string where = "npy '" + name + "'";
    static constexpr std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    check(file.size() >= 10 && std::equal(magic, magic + 6, file.begin()), where, "not a .npy file (bad magic)");
    const int major = file[6];
    check(major >= 1 && major <= 3, where, "unsupported .npy version ", major, ".", int(file[7]));
    const std::size_t len_bytes = major == 1 ? 2 : 4;
    check(file.size() >= 8 + len_bytes, where, "truncated header");
    const std::size_t header_len = detail::read_le(file.data() + 8, len_bytes);
    const std::size_t data_start = 8 + len_bytes + header_len;
    check(header_len <= file.size() && data_start <= file.size(), where, "header length ", header_len,
          " runs past the end of the file (", file.size(), " bytes)");
    const std::string_view header(reinterpret_cast<const char*>(file.data() + 8 + len_bytes), header_len);

    std::string descr;
    bool fortran = false, swap = false;
    array a;
    detail::header_parser(header, where).parse(descr, fortran, a.shape);
    detail::parse_descr(descr, a.type, swap, where);
    const std::size_t n = num_elements(a.shape, where);
    const std::size_t width = dtype_size(a.type);
    check(n <= (file.size() - data_start) / width, where, "shape ", shape_text(a.shape), " of ", dtype_name(a.type),
          " needs ", n * width, " data bytes, the file has ", file.size() - data_start);
    check(n * width == file.size() - data_start, where, "shape ", shape_text(a.shape), " of ", dtype_name(a.type),
          " needs ", n * width, " data bytes, the file has ", file.size() - data_start, " (trailing bytes)");
    a.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(data_start), file.end());
    if (swap) detail::byte_swap(a.bytes, width);
    if (fortran && a.shape.size() > 1) a.bytes = detail::fortran_to_c(a.bytes, a.shape, width);
    if (a.type == dtype::boolean)
        for (auto& b : a.bytes) check(b <= 1, where, "bool element holds ", int(b));
    return a;
}

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    check(static_cast<bool>(in), "file '" + path + "'", "cannot open for reading");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline array read_file(const std::string& path) {
    const auto bytes = read_bytes(path);
    return read(bytes, path);
}

// Serializes as a version 1.0 file (2.0 if the header needs it), C order, little-endian.
inline std::vector<std::uint8_t> write(const array& a) {
    check(a.bytes.size() == num_elements(a.shape) * dtype_size(a.type), "npy::write", "array holds ", a.bytes.size(),
          " bytes for shape ", shape_text(a.shape));
    static constexpr const char* descr[] = {"|b1", "|i1", "|u1", "<i2", "<i4", "<i8", "<f4", "<f8"};
    std::string header = std::string("{'descr': '") + descr[static_cast<int>(a.type)] +
                         "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < a.shape.size(); ++i) header += std::to_string(a.shape[i]) + ", ";
    if (a.shape.size() > 1) header.resize(header.size() - 2);  // (3,) keeps its comma, (2, 3) does not
    else if (a.shape.size() == 1) header.pop_back();
    header += "), }";
    const bool v2 = header.size() + 11 > 65535;
    const std::size_t prefix = v2 ? 12 : 10;
    const std::size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;  // data 64-byte aligned
    header.append(total - prefix - header.size() - 1, ' ');
    header += '\n';
    std::vector<std::uint8_t> out{0x93, 'N', 'U', 'M', 'P', 'Y', std::uint8_t(v2 ? 2 : 1), 0};
    const std::size_t len = header.size();
    for (std::size_t i = 0; i < (v2 ? 4u : 2u); ++i) out.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    const std::size_t data_at = out.size();
    out.insert(out.end(), a.bytes.begin(), a.bytes.end());
    if constexpr (std::endian::native == std::endian::big) {
        std::vector<std::uint8_t> data(out.begin() + data_at, out.end());
        detail::byte_swap(data, dtype_size(a.type));
        std::copy(data.begin(), data.end(), out.begin() + data_at);
    }
    return out;
}

inline void write_file(const std::string& path, const array& a) {
    const auto bytes = write(a);
    std::ofstream out(path, std::ios::binary);
    check(static_cast<bool>(out), "file '" + path + "'", "cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    check(static_cast<bool>(out), "file '" + path + "'", "write failed");
}

}  // namespace qtl::npy
