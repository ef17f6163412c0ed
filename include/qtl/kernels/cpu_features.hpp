#pragma once
// Which x86 instruction sets this CPU *and* its OS can run, read once with
// CPUID and XGETBV.  A CPUID flag alone is not enough: AVX needs the OS to
// save the YMM state (XCR0 bits 1-2) and AVX-512 also the opmask and ZMM
// state (bits 5-7); virtual machines often report one without the other.
//
// Also says whether this compiler can build code for an instruction set the
// compile target lacks (GCC/clang target attributes), which is what lets the
// GEMM kernels pick AVX-512 VNNI at run time in a plain x86-64 build.

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

namespace qtl::kernels {

// 1 when this compiler and target can compile functions for x86 ISA
// extensions beyond the compile target (GCC >= 11 / clang >= 12 know every
// extension the kernels use, AVX-VNNI being the newest).
#if (defined(__x86_64__) || defined(__i386__)) &&                                              \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define QTL_KERNELS_X86_TARGETS 1
#else
#define QTL_KERNELS_X86_TARGETS 0
#endif

struct cpu_features {
    bool avx2 = false;
    bool fma = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512_vnni = false;  // EVEX VPDPBUSD on xmm/ymm/zmm
    bool avx_vnni = false;     // VEX VPDPBUSD on xmm/ymm (Alder Lake, Zen 5, ...)
    bool avx512_vbmi = false;  // VPERMB (Ice Lake, Zen 4 and later; not Skylake-X / Cascade Lake)
};

// Reads the features of the CPU running this call.
inline cpu_features detect_cpu_features() noexcept {
    cpu_features f;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(1, 0, eax, ebx, ecx, edx);
    const bool osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, fma = (ecx >> 12) & 1;
    if (!osxsave || !avx) return f;
    unsigned xcr0_low = 0, xcr0_high = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    const bool ymm_state = (xcr0_low & 0x6) == 0x6;     // SSE + AVX state
    const bool zmm_state = (xcr0_low & 0xE6) == 0xE6;   // + opmask, ZMM0-15 high halves, ZMM16-31
    if (!ymm_state) return f;

    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const unsigned max_subleaf = eax;
    f.avx2 = (ebx >> 5) & 1;
    f.fma = fma;
    if (zmm_state) {
        f.avx512f = (ebx >> 16) & 1;
        f.avx512bw = (ebx >> 30) & 1;
        f.avx512vl = (ebx >> 31) & 1;
        f.avx512_vnni = (ecx >> 11) & 1;
        f.avx512_vbmi = (ecx >> 1) & 1;
    }
    if (max_subleaf >= 1) {
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avx_vnni = (eax >> 4) & 1;
    }
#endif
    return f;
}

// The features of the machine, detected on first use.
inline const cpu_features& host_cpu_features() noexcept {
    static const cpu_features features = detect_cpu_features();
    return features;
}

}  // namespace qtl::kernels
