#pragma once
// qtl::error: the one exception type qtl throws for bad input or an impossible
// request.  It says *where* (tensor, op, file offset, sample) and *what*
// (expected vs got), so a user can fix their model without a debugger.

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace qtl {

class error : public std::runtime_error {
public:
    // where: the place that failed, e.g. "tensor 'conv1/weights' channel 3" or
    //        "op 7 (CONV_2D)"; may be empty.
    // message: what is wrong, e.g. "scale must be finite and > 0, got nan".
    error(std::string where, std::string message)
        : std::runtime_error(where.empty() ? message : where + ": " + message),
          where_(std::move(where)), message_(std::move(message)) {}

    const std::string& where() const noexcept { return where_; }
    const std::string& message() const noexcept { return message_; }

private:
    std::string where_;
    std::string message_;
};

namespace detail {

// Streams every argument into one string: concat("axis ", 3, " of ", 4).
template <class... Args>
std::string concat(const Args&... args) {
    std::ostringstream out;
    (out << ... << args);
    return out.str();
}

}  // namespace detail

// Throws qtl::error when `condition` is false; the message is only built on failure.
// `where` is a view so that a literal costs no string on a passing call.
template <class... Args>
void check(bool condition, std::string_view where, const Args&... message) {
    if (!condition) throw error(std::string(where), detail::concat(message...));
}

}  // namespace qtl
