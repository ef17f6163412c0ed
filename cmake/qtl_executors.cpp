// The executors of qtl's own programs (tests, tools, examples), compiled once:
// they build with QTL_EXTERN_EXECUTORS (qtl/core/extern_executors.hpp) and
// link this file's library instead of instantiating every op in each file.
#include "qtl/executors_impl.hpp"
