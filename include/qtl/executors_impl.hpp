#pragma once
// The one translation unit that defines the executors when a project builds
// with QTL_EXTERN_EXECUTORS (see qtl/core/extern_executors.hpp):
//
//   // qtl_executors.cpp -- include this before any other qtl header
//   #include <qtl/executors_impl.hpp>

#if !defined(QTL_EXTERN_EXECUTORS)
#error "qtl/executors_impl.hpp is for builds that define QTL_EXTERN_EXECUTORS (see qtl/core/extern_executors.hpp)"
#endif
#if defined(QTL_EXECUTOR_DEFINITIONS)
#error "qtl/executors_impl.hpp must be included before any other qtl header of its translation unit"
#endif

#define QTL_EXECUTORS_IMPLEMENTATION
#include "qtl/graph/float_executor.hpp"
#include "qtl/io/tflite/executor.hpp"
