#pragma once
// Compiling the executors once.
//
// Building an executor instantiates every op for every type it runs: about a
// minute of -O2 compile time in each translation unit that constructs one.
// Header-only use stays the default.  A project with several such files can
// compile them once instead:
//
//   - define QTL_EXTERN_EXECUTORS in every translation unit (e.g. with
//     target_compile_definitions(... QTL_EXTERN_EXECUTORS));
//   - in exactly one .cpp, include qtl/executors_impl.hpp before any other
//     qtl header.
//
// The executors' op preparation (qtl::tflite::executor's prepare_* and
// qtl::float_executor's prepare) is then declared in every file and defined,
// with external linkage, in that one.

#if defined(QTL_EXTERN_EXECUTORS) && !defined(QTL_EXECUTORS_IMPLEMENTATION)
#define QTL_EXECUTOR_DEFINITIONS 0
#else
#define QTL_EXECUTOR_DEFINITIONS 1
#endif

#if defined(QTL_EXTERN_EXECUTORS)
#define QTL_EXECUTOR_INLINE
#else
#define QTL_EXECUTOR_INLINE inline
#endif

// The int8 kernels' entry points go with the executors: with
// QTL_EXTERN_EXECUTORS, `QTL_KERNEL_INSTANCE void f<P>(...);` after f's
// definition is an explicit instantiation in the executors' file and an
// explicit instantiation declaration (extern template) everywhere else, so
// every SIMD variant's templates compile once, not in each file that runs
// them (qtl's two depthwise test files: 69 -> 13 s of -O2 compile each).
#if defined(QTL_EXTERN_EXECUTORS) && defined(QTL_EXECUTORS_IMPLEMENTATION)
#define QTL_KERNEL_INSTANCE template
#elif defined(QTL_EXTERN_EXECUTORS)
#define QTL_KERNEL_INSTANCE extern template
#endif
