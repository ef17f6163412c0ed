#pragma once
// .npz files: a ZIP archive of .npy files, as numpy.savez (stored) and
// numpy.savez_compressed (deflate) write them.  Reading walks the central
// directory (with ZIP64 extras, which NumPy writes for every entry), checks
// each entry's bounds and CRC-32, and inflates with zlib.  Writing produces
// a stored (uncompressed) archive that numpy.load reads.

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <zlib.h>

#include "qtl/core/error.hpp"
#include "qtl/io/npy.hpp"

namespace qtl::npz {

// Arrays by name, without the ".npy" suffix (as numpy.load presents them).
using archive = std::map<std::string, npy::array>;

namespace detail {

inline std::uint64_t le(std::span<const std::uint8_t> b, std::size_t at, std::size_t n, const std::string& where) {
    check(at <= b.size() && n <= b.size() - at, where, "truncated ZIP structure at offset ", at);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{b[at + i]} << (8 * i);
    return v;
}

inline std::uint32_t crc32_of(std::span<const std::uint8_t> data) {
    uLong crc = crc32(0L, Z_NULL, 0);
    std::size_t done = 0;
    while (done < data.size()) {  // zlib takes uInt lengths
        const auto chunk = static_cast<uInt>(std::min<std::size_t>(data.size() - done, 1u << 30));
        crc = crc32(crc, data.data() + done, chunk);
        done += chunk;
    }
    return static_cast<std::uint32_t>(crc);
}

inline std::vector<std::uint8_t> inflate_raw(std::span<const std::uint8_t> in, std::uint64_t expected,
                                             const std::string& where) {
    // deflate cannot expand more than ~1032:1, so a larger claim is a corrupt (or hostile) header
    check(expected <= in.size() * std::uint64_t{1032} + 1024 && in.size() <= UINT32_MAX, where, "entry claims ",
          expected, " bytes uncompressed from ", in.size(), " compressed");
    std::vector<std::uint8_t> out(static_cast<std::size_t>(expected));
    z_stream zs{};
    check(inflateInit2(&zs, -MAX_WBITS) == Z_OK, where, "zlib initialisation failed");
    zs.next_in = const_cast<Bytef*>(in.data());
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&zs, Z_FINISH);
    const auto produced = zs.total_out;
    inflateEnd(&zs);
    check(rc == Z_STREAM_END && produced == expected, where, "corrupt deflate data (zlib status ", rc, ", ",
          produced, " of ", expected, " bytes)");
    return out;
}

}  // namespace detail

inline archive read(std::span<const std::uint8_t> file, const std::string& name = "npz") {
    using detail::le;
    const std::string where = "npz '" + name + "'";
    check(file.size() >= 22, where, "too short to be a ZIP archive");
    // End of central directory: the last signature 0x06054b50 within the final 64 KiB + 22 bytes.
    std::size_t eocd = std::string::npos;
    const std::size_t lowest = file.size() > 65557 ? file.size() - 65557 : 0;
    for (std::size_t i = file.size() - 22 + 1; i-- > lowest;)
        if (le(file, i, 4, where) == 0x06054b50) { eocd = i; break; }
    check(eocd != std::string::npos, where, "no ZIP end-of-central-directory record");
    std::uint64_t entries = le(file, eocd + 10, 2, where);
    std::uint64_t cd_offset = le(file, eocd + 16, 4, where);
    if (cd_offset == 0xFFFFFFFF || entries == 0xFFFF) {  // ZIP64 end of central directory, via its locator
        check(eocd >= 20 && le(file, eocd - 20, 4, where) == 0x07064b50, where, "missing ZIP64 locator");
        const std::uint64_t z64 = le(file, eocd - 20 + 8, 8, where);
        check(le(file, z64, 4, where) == 0x06064b50, where, "bad ZIP64 end-of-central-directory record");
        entries = le(file, z64 + 32, 8, where);
        cd_offset = le(file, z64 + 48, 8, where);
    }
    check(entries <= file.size() / 46, where, "claims ", entries, " entries in ", file.size(), " bytes");

    archive out;
    std::uint64_t at = cd_offset;
    for (std::uint64_t e = 0; e < entries; ++e) {
        check(le(file, at, 4, where) == 0x02014b50, where, "bad central directory entry ", e);
        const auto method = le(file, at + 10, 2, where);
        const auto crc = static_cast<std::uint32_t>(le(file, at + 16, 4, where));
        std::uint64_t csize = le(file, at + 20, 4, where), usize = le(file, at + 24, 4, where);
        const auto name_len = le(file, at + 28, 2, where), extra_len = le(file, at + 30, 2, where);
        const auto comment_len = le(file, at + 32, 2, where);
        std::uint64_t local = le(file, at + 42, 4, where);
        check(at + 46 + name_len <= file.size(), where, "entry ", e, " name runs past the end");
        std::string entry(reinterpret_cast<const char*>(file.data() + at + 46), name_len);
        // ZIP64 extra field (id 1): the 64-bit values of the fields saturated above, in order.
        for (std::uint64_t x = at + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
            const auto id = le(file, x, 2, where), len = le(file, x + 2, 2, where);
            if (id == 1) {
                std::uint64_t f = x + 4;
                if (usize == 0xFFFFFFFF) usize = le(file, f, 8, where), f += 8;
                if (csize == 0xFFFFFFFF) csize = le(file, f, 8, where), f += 8;
                if (local == 0xFFFFFFFF) local = le(file, f, 8, where);
            }
            x += 4 + len;
        }
        const std::string ewhere = where + " entry '" + entry + "'";
        check(le(file, local, 4, where) == 0x04034b50, ewhere, "bad local header");
        const auto local_name_len = le(file, local + 26, 2, where);
        check(local_name_len == name_len && local + 30 + name_len <= file.size() &&
                  std::equal(entry.begin(), entry.end(), file.begin() + static_cast<std::ptrdiff_t>(local + 30)),
              ewhere, "local header names a different file");
        const std::uint64_t data = local + 30 + le(file, local + 26, 2, where) + le(file, local + 28, 2, where);
        check(data <= file.size() && csize <= file.size() - data, ewhere, "data runs past the end of the archive");
        const std::span<const std::uint8_t> raw = file.subspan(static_cast<std::size_t>(data), static_cast<std::size_t>(csize));
        std::vector<std::uint8_t> bytes;
        if (method == 0) {
            check(csize == usize, ewhere, "stored entry with different sizes");
            bytes.assign(raw.begin(), raw.end());
        } else if (method == 8) {
            bytes = detail::inflate_raw(raw, usize, ewhere);
        } else {
            throw error(ewhere, qtl::detail::concat("unsupported compression method ", method, " (stored or deflate only)"));
        }
        check(detail::crc32_of(bytes) == crc, ewhere, "CRC-32 mismatch");
        std::string key = entry;
        if (key.size() > 4 && key.ends_with(".npy")) key.resize(key.size() - 4);
        out[key] = npy::read(bytes, name + "/" + entry);
        at += 46 + name_len + extra_len + comment_len;
    }
    return out;
}

inline archive read_file(const std::string& path) {
    const auto bytes = npy::read_bytes(path);
    return read(bytes, path);
}

// A stored (uncompressed) archive of `arrays`, each as NAME.npy.
inline std::vector<std::uint8_t> write(const archive& arrays) {
    std::vector<std::uint8_t> out, central;
    const auto put = [](std::vector<std::uint8_t>& v, std::uint64_t x, int n) {
        for (int i = 0; i < n; ++i) v.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
    };
    for (const auto& [key, arr] : arrays) {
        const auto npy_bytes = npy::write(arr);
        const std::string entry = key + ".npy";
        check(npy_bytes.size() < 0xFFFFFFFFu && out.size() < 0xFFFFFFFFu, "npz::write",
              "archives over 4 GiB are not supported");
        const std::uint32_t crc = detail::crc32_of(npy_bytes);
        const std::uint64_t local = out.size();
        put(out, 0x04034b50, 4); put(out, 20, 2); put(out, 0, 2); put(out, 0, 2);  // version, flags, stored
        put(out, 0, 2); put(out, 0x21, 2);                                         // time, date (1980-01-01)
        put(out, crc, 4); put(out, npy_bytes.size(), 4); put(out, npy_bytes.size(), 4);
        put(out, entry.size(), 2); put(out, 0, 2);
        out.insert(out.end(), entry.begin(), entry.end());
        out.insert(out.end(), npy_bytes.begin(), npy_bytes.end());

        put(central, 0x02014b50, 4); put(central, 20, 2); put(central, 20, 2); put(central, 0, 2);
        put(central, 0, 2); put(central, 0, 2); put(central, 0x21, 2);
        put(central, crc, 4); put(central, npy_bytes.size(), 4); put(central, npy_bytes.size(), 4);
        put(central, entry.size(), 2); put(central, 0, 2); put(central, 0, 2);  // name, extra, comment
        put(central, 0, 2); put(central, 0, 2); put(central, 0, 4); put(central, local, 4);
        central.insert(central.end(), entry.begin(), entry.end());
    }
    const std::uint64_t cd_offset = out.size();
    out.insert(out.end(), central.begin(), central.end());
    put(out, 0x06054b50, 4); put(out, 0, 2); put(out, 0, 2);
    put(out, arrays.size(), 2); put(out, arrays.size(), 2);
    put(out, central.size(), 4); put(out, cd_offset, 4); put(out, 0, 2);
    return out;
}

inline void write_file(const std::string& path, const archive& arrays) {
    const auto bytes = write(arrays);
    std::ofstream out(path, std::ios::binary);
    check(static_cast<bool>(out), "file '" + path + "'", "cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    check(static_cast<bool>(out), "file '" + path + "'", "write failed");
}

}  // namespace qtl::npz
