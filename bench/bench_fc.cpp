// FULLY_CONNECTED int8 (TFLite semantics) on the shapes of DESIGN.md section
// 5, run by qtl, oneDNN and XNNPACK in one process, on the same data, one
// thread each, plus the instruction peaks of the machine.  Every benchmark is
// named <layer>/<backend> and reports a GOPS counter (2 * M * K * N integer
// operations per iteration), so ratios can be recomputed from the JSON.
//
//   fc_MxKxN/qtl      kernels::gemm_int8, per-channel multipliers, input and
//                     output zero points, int8 out (bit-exact with TFLite)
//   fc_MxKxN/onednn   dnnl::matmul u8 x s8 -> s8, s32 bias, per-channel output
//                     scales, source and output zero points, weights reordered once to
//                     the layout the primitive asks for: oneDNN's fast int8 path
//                     (it takes u8 activations; the same bytes shifted by 128)
//   fc_MxKxN/xnnpack  xnn_create_fully_connected_nc_qs8 (per-tensor weight
//                     scale: the only qs8 FC in Debian's 2022 snapshot)
//   max_diff counter  the largest |output - a plain loop of TFLite's
//                     arithmetic| on the same data, in output steps (the
//                     loop with XNNPACK's per-tensor scale for xnnpack)
//   *_peak/...        independent multiply-accumulate chains in assembly:
//                     vpdpbusd_peak/zmm (AVX-512 VNNI), vpdpbusd_peak/ymm
//                     (AVX-VNNI), and for AVX2 vpmaddwd_peak (the multiplier
//                     alone), vpmaddwd_vpaddd_peak (an exact kernel's mix) and
//                     vpmaddubsw_peak (oneDNN's saturating mix)

#include <algorithm>
#include <cmath>
#include <map>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "bench_common.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/gemm_int8.hpp"

namespace {

struct fc_shape {
    int m, k, n;
    std::string name() const {
        return "fc_" + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
    }
};

constexpr fc_shape fc_shapes[] = {{1, 1024, 1024}, {1, 4096, 4096}, {8, 1024, 1024},
                                  {64, 1024, 4096}, {128, 768, 3072}, {384, 768, 768}};

// One layer's tensors and float quantization parameters, identical for every backend.
struct fc_layer {
    fc_shape shape;
    std::vector<std::int8_t> input;    // [m][k]
    std::vector<std::int8_t> weights;  // [n][k]
    std::vector<std::int32_t> bias;    // [n]
    float input_scale = 0.05f;
    std::int32_t input_zero_point = 3;
    std::vector<float> weight_scales;  // per channel
    float weight_scale = 0.01f;        // per tensor (XNNPACK)
    float output_scale = 1.0f;
    std::int32_t output_zero_point = -5;

    explicit fc_layer(fc_shape s) : shape(s) {
        const std::uint32_t seed = std::uint32_t(1234 + s.m + s.k + s.n);
        input = qtl_bench::random_values<std::int8_t>(std::size_t(s.m) * s.k, seed, -128, 127);
        weights = qtl_bench::random_values<std::int8_t>(std::size_t(s.n) * s.k, seed + 1, -127, 127);
        bias = qtl_bench::random_values<std::int32_t>(std::size_t(s.n), seed + 2, -5000, 5000);
        weight_scales = qtl_bench::random_scales(std::size_t(s.n), seed + 3, weight_scale);
        output_scale = qtl_bench::spread_output_scale(input_scale, weight_scale, std::size_t(s.k));
    }
};

void set_gops(benchmark::State& state, const fc_shape& s) { qtl_bench::set_gops(state, double(s.m) * s.k * s.n); }

// TFLite's FULLY_CONNECTED as a plain loop (the max_diff oracle), with one
// weight scale per output column, or one for all (`per_channel` false:
// what XNNPACK's qs8 FC takes).
// Computed once per shape and kind (benchmarks repeat).
const std::vector<std::int8_t>& reference_fc(const fc_layer& l, bool per_channel) {
    static std::map<std::string, std::vector<std::int8_t>> cache;
    const fc_shape& s = l.shape;
    std::vector<std::int8_t>& out = cache[s.name() + (per_channel ? "/channel" : "/tensor")];
    if (!out.empty()) return out;
    out.resize(std::size_t(s.m) * s.n);
    for (int n = 0; n < s.n; ++n) {
        const float ws = per_channel ? l.weight_scales[std::size_t(n)] : l.weight_scale;
        const qtl::quantized_multiplier qm = qtl::quantize_multiplier(double(l.input_scale) * ws / l.output_scale);
        for (int m = 0; m < s.m; ++m) {
            std::int32_t acc = l.bias[std::size_t(n)];
            for (int k = 0; k < s.k; ++k)
                acc += (std::int32_t(l.input[std::size_t(m) * s.k + k]) - l.input_zero_point) *
                       std::int32_t(l.weights[std::size_t(n) * s.k + k]);
            const std::int32_t v = qtl::multiply_by_quantized_multiplier(acc, qm) + l.output_zero_point;
            out[std::size_t(m) * s.n + n] = static_cast<std::int8_t>(std::min(127, std::max(-128, v)));
        }
    }
    return out;
}

// --- qtl ----------------------------------------------------------------------

void fc_qtl(benchmark::State& state, fc_shape shape) {
    using namespace qtl;
    const fc_layer layer(shape);
    std::vector<quantized_multiplier> multipliers;
    for (float ws : layer.weight_scales)
        multipliers.push_back(quantize_multiplier(double(layer.input_scale) * ws / layer.output_scale));
    const kernels::gemm_int8_spec spec{std::size_t(shape.k), std::size_t(shape.n), layer.weights, layer.bias,
                                       layer.input_zero_point, multipliers,
                                       requantize_params{layer.output_zero_point, -128, 127}};
    const kernels::gemm_int8_packed packed = kernels::pack_gemm_int8(spec);
    std::vector<std::int8_t> out(std::size_t(shape.m) * shape.n);
    kernels::gemm_int8(packed, layer.input.data(), shape.m, shape.k, out.data(), shape.n);
    qtl_bench::set_max_diff(state, qtl_bench::max_abs_diff(out, reference_fc(layer, true)));
    for (auto _ : state) {
        kernels::gemm_int8(packed, layer.input.data(), shape.m, shape.k, out.data(), shape.n);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_gops(state, shape);
    state.SetLabel(std::string(kernels::to_string(packed.isa)));
}

// --- oneDNN -------------------------------------------------------------------

#if QTL_BENCH_ONEDNN
void fc_onednn(benchmark::State& state, fc_shape shape) {
    using namespace dnnl;
    using dt = memory::data_type;
    using tag = memory::format_tag;
    const fc_layer layer(shape);
    const memory::dim m = shape.m, k = shape.k, n = shape.n;
    engine eng(engine::kind::cpu, 0);
    stream strm(eng);

    const memory::desc src_md({m, k}, dt::u8, tag::ab);
    const memory::desc weights_any({k, n}, dt::s8, tag::any);
    const memory::desc weights_user_md({k, n}, dt::s8, tag::ba);  // our [n][k] rows are K x N column-major
    const memory::desc bias_md({1, n}, dt::s32, tag::ab);
    const memory::desc dst_md({m, n}, dt::s8, tag::ab);

    primitive_attr attr;
    std::vector<float> scales;
    for (float ws : layer.weight_scales) scales.push_back(layer.input_scale * ws / layer.output_scale);
    attr.set_output_scales(1 << 1, scales);  // per output column
    attr.set_zero_points(DNNL_ARG_SRC, 0, {layer.input_zero_point + 128});
    attr.set_zero_points(DNNL_ARG_DST, 0, {layer.output_zero_point});
    const matmul::primitive_desc pd(matmul::desc(src_md, weights_any, bias_md, dst_md), attr, eng);

    // u8 activations: the same values shifted by 128 (zero point + 128).
    std::vector<std::uint8_t> input = qtl_bench::shifted_to_u8(layer.input);
    std::vector<std::int32_t> bias = layer.bias;
    memory src(src_md, eng, input.data());
    memory weights_user(weights_user_md, eng, const_cast<std::int8_t*>(layer.weights.data()));
    memory weights(pd.weights_desc(), eng);
    reorder(weights_user, weights).execute(strm, weights_user, weights);
    memory bias_mem(bias_md, eng, bias.data());
    std::vector<std::int8_t> out(std::size_t(m) * n);
    memory dst(dst_md, eng, out.data());
    const matmul prim(pd);
    const std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias_mem}, {DNNL_ARG_DST, dst}};
    prim.execute(strm, args);
    strm.wait();
    qtl_bench::set_max_diff(state, qtl_bench::max_abs_diff(out, reference_fc(layer, true)));
    for (auto _ : state) {
        prim.execute(strm, args);
        strm.wait();
        benchmark::ClobberMemory();
    }
    set_gops(state, shape);
    state.SetLabel(pd.impl_info_str());
}
#endif

// --- XNNPACK ------------------------------------------------------------------

#if QTL_BENCH_XNNPACK
void fc_xnnpack(benchmark::State& state, fc_shape shape) {
    const fc_layer layer(shape);
    xnn_operator_t op = nullptr;
    const float output_scale = layer.output_scale;
    if (xnn_create_fully_connected_nc_qs8(shape.k, shape.n, shape.k, shape.n,
                                          static_cast<std::int8_t>(layer.input_zero_point), layer.input_scale,
                                          layer.weight_scale, layer.weights.data(), layer.bias.data(),
                                          static_cast<std::int8_t>(layer.output_zero_point), output_scale, -128, 127,
                                          0, &op) != xnn_status_success) {
        state.SkipWithError("xnn_create_fully_connected_nc_qs8 failed");
        return;
    }
    std::vector<std::int8_t> out(std::size_t(shape.m) * shape.n);
    if (xnn_setup_fully_connected_nc_qs8(op, shape.m, layer.input.data(), out.data(), nullptr) != xnn_status_success) {
        xnn_delete_operator(op);
        state.SkipWithError("xnn_setup_fully_connected_nc_qs8 failed");
        return;
    }
    xnn_run_operator(op, nullptr);
    qtl_bench::set_max_diff(state, qtl_bench::max_abs_diff(out, reference_fc(layer, false)));
    for (auto _ : state) {
        xnn_run_operator(op, nullptr);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    xnn_delete_operator(op);
    set_gops(state, shape);
}
#endif

// --- peak ---------------------------------------------------------------------
// Independent accumulator chains of one instruction, in assembly: compilers
// hoist or merge repeated products of the same operands, and GCC keeps
// arrays of accumulators on the stack.  Returns the steps executed.

#if QTL_KERNELS_X86_TARGETS
// 16 zmm accumulators (zmm0-15), operands zmm16/zmm17.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) std::int64_t vpdpbusd_zmm_chains(std::int64_t iterations) {
    const std::int64_t n = iterations;
    __asm__ volatile(
        "vpternlogd $0xff, %%zmm16, %%zmm16, %%zmm16\n\t"
        "vpternlogd $0xff, %%zmm17, %%zmm17, %%zmm17\n\t"
        "1:\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm0\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm1\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm2\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm3\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm4\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm5\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm6\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm7\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm8\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm9\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm10\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm11\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm12\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm13\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm14\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm15\n\t"
        "dec %0\n\t"
        "jnz 1b\n\t"
        "vzeroupper"
        : "+r"(iterations)
        :
        : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
          "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17");
    return n * 16;
}

// 12 ymm accumulators (ymm0-11), operands ymm12/ymm13, VEX encoding.
__attribute__((target("avx2,avxvnni"))) std::int64_t vpdpbusd_ymm_chains(std::int64_t iterations) {
    const std::int64_t n = iterations;
    __asm__ volatile(
        "vpcmpeqd %%ymm12, %%ymm12, %%ymm12\n\t"
        "vpcmpeqd %%ymm13, %%ymm13, %%ymm13\n\t"
        "1:\n\t"
        "%{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm0\n\t %{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm1\n\t"
        "%{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm2\n\t %{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm3\n\t"
        "%{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm4\n\t %{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm5\n\t"
        "%{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm6\n\t %{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm7\n\t"
        "%{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm8\n\t %{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm9\n\t"
        "%{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm10\n\t %{vex%} vpdpbusd %%ymm13, %%ymm12, %%ymm11\n\t"
        "dec %0\n\t"
        "jnz 1b\n\t"
        "vzeroupper"
        : "+r"(iterations)
        :
        : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
          "xmm12", "xmm13");
    return n * 12;
}

// The AVX2 ceilings, three ways (a CPU without VNNI):
//  - vpmaddwd_ymm_chains: VPMADDWD alone into 12 registers, the rate of the
//    int16 multipliers themselves (16 multiply-accumulates an instruction);
//  - vpmaddwd_vpaddd_ymm_chains: what an exact kernel must issue, one VPMADDWD
//    and one VPADDD into 11 accumulators per 16 multiply-accumulates (products
//    alternate between ymm14/15, renamed, so no chain runs through them);
//  - vpmaddubsw_ymm_chains: the saturating mix (VPMADDUBSW u8 x s8 into int16
//    pair sums, VPMADDWD by ones, VPADDD) that oneDNN's AVX2 int8 kernels use:
//    32 multiply-accumulates per three instructions, inexact when a pair sum
//    passes 32767.
// Operands are ymm12/ymm13 (ymm11 holds the int16 ones, set by QTL_BENCH_YMM_LOOP).
#define QTL_BENCH_MADD(product, acc) \
    "vpmaddwd %%ymm13, %%ymm12, %%" product "\n\t vpaddd %%" product ", %%" acc ", %%" acc "\n\t"
#define QTL_BENCH_MADDUBS(product, acc)                                                              \
    "vpmaddubsw %%ymm13, %%ymm12, %%" product "\n\t vpmaddwd %%ymm11, %%" product ", %%" product "\n\t" \
    "vpaddd %%" product ", %%" acc ", %%" acc "\n\t"
#define QTL_BENCH_YMM_CLOBBERS                                                                                     \
    "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
        "xmm13", "xmm14", "xmm15"

// Runs `body` `iterations` times, with ymm12/ymm13 all ones and ymm11 the
// int16 ones.
#define QTL_BENCH_YMM_LOOP(iterations, body)                                                        \
    __asm__ volatile("vpcmpeqd %%ymm12, %%ymm12, %%ymm12\n\t vpcmpeqd %%ymm13, %%ymm13, %%ymm13\n\t"  \
                     "vpcmpeqw %%ymm11, %%ymm11, %%ymm11\n\t vpsrlw $15, %%ymm11, %%ymm11\n\t"         \
                     "1:\n\t" body "dec %0\n\t jnz 1b\n\t vzeroupper"                                   \
                     : "+r"(iterations)                                                               \
                     :                                                                                \
                     : QTL_BENCH_YMM_CLOBBERS)

__attribute__((target("avx2"))) std::int64_t vpmaddwd_ymm_chains(std::int64_t iterations) {
    const std::int64_t n = iterations;
    QTL_BENCH_YMM_LOOP(iterations,
                       "vpmaddwd %%ymm13, %%ymm12, %%ymm0\n\t vpmaddwd %%ymm13, %%ymm12, %%ymm1\n\t"
                       "vpmaddwd %%ymm13, %%ymm12, %%ymm2\n\t vpmaddwd %%ymm13, %%ymm12, %%ymm3\n\t"
                       "vpmaddwd %%ymm13, %%ymm12, %%ymm4\n\t vpmaddwd %%ymm13, %%ymm12, %%ymm5\n\t"
                       "vpmaddwd %%ymm13, %%ymm12, %%ymm6\n\t vpmaddwd %%ymm13, %%ymm12, %%ymm7\n\t"
                       "vpmaddwd %%ymm13, %%ymm12, %%ymm8\n\t vpmaddwd %%ymm13, %%ymm12, %%ymm9\n\t"
                       "vpmaddwd %%ymm13, %%ymm12, %%ymm10\n\t vpmaddwd %%ymm13, %%ymm12, %%ymm14\n\t");
    return n * 12;
}

__attribute__((target("avx2"))) std::int64_t vpmaddwd_vpaddd_ymm_chains(std::int64_t iterations) {
    const std::int64_t n = iterations;
    QTL_BENCH_YMM_LOOP(iterations, QTL_BENCH_MADD("ymm14", "ymm0") QTL_BENCH_MADD("ymm15", "ymm1")
                                       QTL_BENCH_MADD("ymm14", "ymm2") QTL_BENCH_MADD("ymm15", "ymm3")
                                           QTL_BENCH_MADD("ymm14", "ymm4") QTL_BENCH_MADD("ymm15", "ymm5")
                                               QTL_BENCH_MADD("ymm14", "ymm6") QTL_BENCH_MADD("ymm15", "ymm7")
                                                   QTL_BENCH_MADD("ymm14", "ymm8") QTL_BENCH_MADD("ymm15", "ymm9")
                                                       QTL_BENCH_MADD("ymm14", "ymm10"));
    return n * 11;
}

// Six accumulators (ymm0-5), products in ymm6-10 and ymm14.
__attribute__((target("avx2"))) std::int64_t vpmaddubsw_ymm_chains(std::int64_t iterations) {
    const std::int64_t n = iterations;
    QTL_BENCH_YMM_LOOP(iterations, QTL_BENCH_MADDUBS("ymm6", "ymm0") QTL_BENCH_MADDUBS("ymm7", "ymm1")
                                       QTL_BENCH_MADDUBS("ymm8", "ymm2") QTL_BENCH_MADDUBS("ymm9", "ymm3")
                                           QTL_BENCH_MADDUBS("ymm10", "ymm4") QTL_BENCH_MADDUBS("ymm14", "ymm5"));
    return n * 6;
}
#undef QTL_BENCH_MADD
#undef QTL_BENCH_YMM_LOOP
#undef QTL_BENCH_MADDUBS
#undef QTL_BENCH_YMM_CLOBBERS

// GOPS = steps x 2 x multiply-accumulates per step (64 for a zmm VPDPBUSD,
// 32 for ymm, 16 for VPMADDWD alone or with its VPADDD, 32 for the
// VPMADDUBSW mix).
void peak(benchmark::State& state, bool supported, std::int64_t (*chains)(std::int64_t), double macs_per_instruction) {
    if (!supported) {
        state.SkipWithError("this CPU lacks the instruction");
        return;
    }
    constexpr std::int64_t iterations = 1 << 16;
    std::int64_t instructions = 0;
    for (auto _ : state) instructions = chains(iterations);
    state.counters["GOPS"] = benchmark::Counter(double(instructions) * 2.0 * macs_per_instruction * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
#endif

}  // namespace

int main(int argc, char** argv) {
    qtl_bench::init_backends("bench_fc");
    for (const fc_shape& s : fc_shapes) {
        qtl_bench::add(s.name(), "qtl", fc_qtl, s);
#if QTL_BENCH_ONEDNN
        qtl_bench::add(s.name(), "onednn", fc_onednn, s);
#endif
#if QTL_BENCH_XNNPACK
        qtl_bench::add(s.name(), "xnnpack", fc_xnnpack, s);
#endif
    }
#if QTL_KERNELS_X86_TARGETS
    const auto& f = qtl::kernels::host_cpu_features();
    benchmark::RegisterBenchmark("vpdpbusd_peak/zmm", peak, f.avx512f && f.avx512bw && f.avx512_vnni,
                                 &vpdpbusd_zmm_chains, 64.0)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("vpdpbusd_peak/ymm", peak, f.avx2 && f.avx_vnni, &vpdpbusd_ymm_chains, 32.0)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("vpmaddwd_peak/ymm", peak, f.avx2, &vpmaddwd_ymm_chains, 16.0)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("vpmaddwd_vpaddd_peak/ymm", peak, f.avx2, &vpmaddwd_vpaddd_ymm_chains, 16.0)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("vpmaddubsw_peak/ymm", peak, f.avx2, &vpmaddubsw_ymm_chains, 32.0)
        ->Unit(benchmark::kMicrosecond);
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("qtl_gemm_int8_kernel",
                                std::string(qtl::kernels::to_string(qtl::kernels::best_gemm_int8_isa())));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    qtl_bench::shutdown_backends();
    return 0;
}
