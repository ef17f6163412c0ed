#pragma once
// A memory plan for the activations of a model: one arena, each buffer at an
// offset, buffers whose lifetimes overlap never sharing bytes.  Lifetimes are
// the closed ranges [first, last] of operator indices that write or read the
// buffer; a buffer dies after its last reader, so its bytes can hold the
// output of any later operator.
//
//   std::vector<qtl::arena_buffer> buffers = ...;     // size + lifetime each
//   qtl::arena_plan plan = qtl::plan_arena(buffers);
//   std::vector<std::byte> arena(plan.bytes);         // one allocation
//   std::byte* b = arena.data() + plan.offsets[i];
//
// Greedy by size, the way TFLite's arena planner works: the largest buffer
// goes first, each next one at the lowest aligned offset whose bytes no
// already placed, lifetime-overlapping buffer uses.  Not optimal (that is
// NP-hard), but close on the chains and residual blocks models are made of.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "qtl/core/error.hpp"

namespace qtl {

struct arena_buffer {
    std::size_t bytes = 0;
    std::int64_t first = 0;  // first operator that touches it (-1: set before the first operator)
    std::int64_t last = 0;   // last operator that touches it (>= first)
};

struct arena_plan {
    std::size_t bytes = 0;             // the arena's size
    std::vector<std::size_t> offsets;  // one per buffer, multiples of the alignment
};

inline bool lifetimes_overlap(const arena_buffer& a, const arena_buffer& b) noexcept {
    return a.first <= b.last && b.first <= a.last;
}

inline bool bytes_overlap(std::size_t a_offset, std::size_t a_bytes, std::size_t b_offset,
                          std::size_t b_bytes) noexcept {
    return a_bytes > 0 && b_bytes > 0 && a_offset < b_offset + b_bytes && b_offset < a_offset + a_bytes;
}

// Alignment: a power of two (64 keeps every buffer on its own cache lines and
// suits any SIMD load).
inline arena_plan plan_arena(const std::vector<arena_buffer>& buffers, std::size_t alignment = 64) {
    check(alignment > 0 && (alignment & (alignment - 1)) == 0, "plan_arena", "alignment must be a power of two, got ",
          alignment);
    for (std::size_t i = 0; i < buffers.size(); ++i)
        check(buffers[i].first <= buffers[i].last, "plan_arena", "buffer ", i, " has lifetime [", buffers[i].first,
              ", ", buffers[i].last, "]: first > last");
    const auto round_up = [&](std::size_t n) { return (n + alignment - 1) & ~(alignment - 1); };

    std::vector<std::size_t> order(buffers.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    // Largest first; ties by earlier birth, then index: a total order, so the
    // plan is deterministic (and std::sort needs no temporary buffer).
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (buffers[a].bytes != buffers[b].bytes) return buffers[a].bytes > buffers[b].bytes;
        if (buffers[a].first != buffers[b].first) return buffers[a].first < buffers[b].first;
        return a < b;
    });

    arena_plan plan;
    plan.offsets.assign(buffers.size(), 0);
    std::vector<std::size_t> placed;  // indices, kept sorted by offset
    for (std::size_t i : order) {
        const std::size_t need = round_up(buffers[i].bytes);
        std::size_t offset = 0;
        if (need > 0) {
            // Walk the live neighbours by increasing offset; take the first gap that fits.
            for (std::size_t j : placed) {
                if (!lifetimes_overlap(buffers[i], buffers[j]) || buffers[j].bytes == 0) continue;
                const std::size_t j_end = plan.offsets[j] + round_up(buffers[j].bytes);
                if (plan.offsets[j] >= offset + need) break;  // the gap before j fits
                offset = std::max(offset, j_end);
            }
        }
        plan.offsets[i] = offset;
        plan.bytes = std::max(plan.bytes, offset + need);
        placed.insert(std::upper_bound(placed.begin(), placed.end(), i,
                                       [&](std::size_t a, std::size_t b) { return plan.offsets[a] < plan.offsets[b]; }),
                      i);
    }
    return plan;
}

}  // namespace qtl
