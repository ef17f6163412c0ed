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
