#pragma once
// simplify(): the clean-up a Keras/TF float export needs before it is
// calibrated and quantized, run to a fixed point:
//   fold_constants     shape arithmetic (Keras Flatten) -> constants
//   remove_identities  same-shape RESHAPE, +0 / *1 leftovers, same-type CAST
//   fold_batch_norm    unfused MUL/ADD batch norm -> the layer's weights/bias
//   fuse_activations   RELU / RELU6 / RELU_N1_TO_1 -> fused activation
// One pass can enable another (a folded shape makes a RESHAPE an identity; a
// removed identity exposes a RELU to its producer), hence the loop.
//
//   auto g = qtl::load_float_tflite("model.tflite");
//   auto report = qtl::simplify(g);
//   for (const auto& line : report.changes) std::cout << line << '\n';
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/graph/passes/fold_batch_norm.hpp"
#include "qtl/graph/passes/fold_constants.hpp"
#include "qtl/graph/passes/fuse_activations.hpp"
#include "qtl/graph/passes/remove_identities.hpp"

namespace qtl {

struct simplify_report {
    std::vector<std::string> changes;  // one human-readable line per change, in order
    int rounds = 0;                    // passes over the pass list, the last one changing nothing

    bool changed() const { return !changes.empty(); }
    std::string to_string() const {
        std::string s;
        for (const auto& c : changes) s += c + "\n";
        return s;
    }
};

inline simplify_report simplify(graph& g, int max_rounds = 64) {
    simplify_report r;
    bool changed = true;
    while (changed) {
        check(r.rounds < max_rounds, "simplify", "no fixed point after ", max_rounds, " rounds");
        ++r.rounds;
        changed = false;
        changed |= fold_constants(g, &r.changes);
        changed |= remove_identities(g, &r.changes);
        changed |= fold_batch_norm(g, &r.changes);
        changed |= fuse_activations(g, &r.changes);
    }
    g.validate();
    return r;
}

}  // namespace qtl
