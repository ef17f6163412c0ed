// The executor runs imported models with qtl's ops.  Oracles: the seanet
// goldens (16x8 models and outputs written by TFLite's reference
// interpreter, ../shared/models/seanet), bit for bit, on both kernel paths.
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/shared_data.hpp"

namespace {

struct golden_case {
    const char* name;
    int inputs;        // model inputs
    int input_files;   // inputs with a golden CSV
    bool int32_input;  // quantize0 takes INT32
};

// Runs models/seanet/<name>.tflite on its golden inputs; returns the number
// of output elements that differ from the golden.
std::size_t mismatches(const golden_case& c, qtl::tflite::kernel_path path, std::size_t& total) {
    const std::string base = std::string("models/seanet/") + c.name;
    qtl::tflite::executor run(qtl::tflite::read_model(qtl::test::shared_file(base + ".tflite")), path);
    REQUIRE(run.input_count() == static_cast<std::size_t>(c.inputs));
    for (int k = 0; k < c.input_files; ++k) {
        const std::string file = base + "_input" + std::to_string(k) + (c.int32_input ? "_int32.csv" : "_int16.csv");
        if (c.int32_input) {
            const auto values = qtl::test::read_csv_integers<std::int32_t>(file);
            run.set_input<std::int32_t>(k, values);
        } else {
            const auto values = qtl::test::read_csv_integers<std::int16_t>(file);
            run.set_input<std::int16_t>(k, values);
        }
    }
    run.invoke();
    const auto golden = qtl::test::read_csv_integers<std::int16_t>(base + "_golden_int16.csv");
    const auto got = run.output<std::int16_t>(0);
    REQUIRE(got.size() == golden.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < golden.size(); ++i) wrong += got[i] != golden[i] ? 1 : 0;
    total = golden.size();
    return wrong;
}

const golden_case seanet[] = {
    {"add0", 2, 2, false},        {"add1", 2, 2, false}, {"conv0", 1, 1, false},
    {"conv1", 1, 1, false},       {"leaky_relu0", 1, 1, false}, {"pad0", 1, 1, false},
    {"quantize0", 1, 1, true},    {"strided_slice0", 1, 1, false}, {"sub0", 2, 2, false},
};

}  // namespace

TEST_CASE("executor: every seanet 16x8 golden, bit for bit, SIMD and reference paths") {
    for (const auto& c : seanet) {
        for (auto path : {qtl::tflite::kernel_path::simd, qtl::tflite::kernel_path::reference}) {
            const std::string what = std::string(c.name) + (path == qtl::tflite::kernel_path::simd ? " simd" : " reference");
            CAPTURE(what);
            std::size_t total = 0;
            CHECK(mismatches(c, path, total) == 0);
            CHECK(total > 0);
        }
    }
}

TEST_CASE("executor: wrong input sizes and types are errors") {
    qtl::tflite::executor run(qtl::tflite::read_model(qtl::test::shared_file("models/seanet/leaky_relu0.tflite")));
    const std::vector<std::int16_t> short_input(5);
    CHECK_THROWS_AS(run.set_input<std::int16_t>(0, short_input), qtl::error);
    const std::vector<std::int8_t> wrong_type(2 * 160 * 8);
    CHECK_THROWS_AS(run.set_input<std::int8_t>(0, wrong_type), qtl::error);
    CHECK_THROWS_AS(run.set_input<std::int16_t>(1, short_input), qtl::error);  // one input only
    CHECK_THROWS_AS(run.output<std::int16_t>(3), qtl::error);
}
