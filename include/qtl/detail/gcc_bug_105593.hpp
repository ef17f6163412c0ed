#pragma once
// GCC 12 reports its own AVX-512 intrinsics (the _mm512_undefined_* inside
// casts, shifts, min/max, conversions and pmuldq) as "used uninitialized"
// once they are inlined into a function built for AVX-512: GCC bug 105593,
// fixed in GCC 13.  A -march=native build on an AVX-512 machine with
// Debian 12's compiler would print dozens of these false warnings, so the
// headers whose functions use xsimd or x86 intrinsics put their code
// between these two macros.

#if defined(__GNUC__) && !defined(__clang__)
#define QTL_DETAIL_GCC_BUG_105593_BEGIN                            \
    _Pragma("GCC diagnostic push")                                 \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")          \
    _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define QTL_DETAIL_GCC_BUG_105593_END _Pragma("GCC diagnostic pop")
#else
#define QTL_DETAIL_GCC_BUG_105593_BEGIN
#define QTL_DETAIL_GCC_BUG_105593_END
#endif
