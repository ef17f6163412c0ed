#pragma once
// A region of functions compiled for x86 extensions beyond the compile
// target (GCC/clang target attributes), so that a plain x86-64 build can
// carry an AVX2 or AVX-512 kernel and pick it at run time by CPUID:
//
//   QTL_DETAIL_TARGET_BEGIN("avx2,avx512f,avx512bw")
//   ... functions ...
//   QTL_DETAIL_TARGET_END
//
// With GCC the region also silences GCC bug 105593 (gcc_bug_105593.hpp),
// whose false warnings come from intrinsics inlined into exactly such
// functions.  Only used where QTL_KERNELS_X86_TARGETS (cpu_features.hpp)
// holds: GCC >= 11 or clang >= 12 on x86.

#include "qtl/detail/gcc_bug_105593.hpp"

#define QTL_DETAIL_PRAGMA(...) _Pragma(#__VA_ARGS__)

#if defined(__clang__)
#define QTL_DETAIL_TARGET_BEGIN(isa) \
    QTL_DETAIL_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define QTL_DETAIL_TARGET_END QTL_DETAIL_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define QTL_DETAIL_TARGET_BEGIN(isa) \
    QTL_DETAIL_PRAGMA(GCC push_options) QTL_DETAIL_PRAGMA(GCC target(isa)) QTL_DETAIL_GCC_BUG_105593_BEGIN
#define QTL_DETAIL_TARGET_END QTL_DETAIL_GCC_BUG_105593_END QTL_DETAIL_PRAGMA(GCC pop_options)
#else
#define QTL_DETAIL_TARGET_BEGIN(isa)
#define QTL_DETAIL_TARGET_END
#endif
