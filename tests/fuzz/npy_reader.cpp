// libFuzzer target: the .npy and .npz readers must turn any input into either
// arrays or a qtl::error, never a crash, a sanitizer report or another exception.
#include <cstddef>
#include <cstdint>
#include <span>

#include "qtl/io/npy.hpp"
#include "qtl/io/npz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    try {
        const auto a = qtl::npy::read(bytes, "fuzz");
        (void)a.as<double>();
    } catch (const qtl::error&) {
    }
    try {
        const auto z = qtl::npz::read(bytes, "fuzz");
        for (const auto& [name, a] : z) (void)a.as<float>();
    } catch (const qtl::error&) {
    }
    return 0;
}
