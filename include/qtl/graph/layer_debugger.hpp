#pragma once
// The per-layer debugger: runs the float graph and its integer model side by
// side on a debug set and reports, for every quantized activation, how far
// the integer values (dequantized) are from the float ones:
//
//   qtl::conversion_report conv;
//   auto model = qtl::convert(g, cal, options, &conv);
//   qtl::layer_report r = qtl::debug_layers(g, model, conv, samples);
//   qtl::write_table(std::cout, r);  qtl::write_csv(file, r);  qtl::write_html(file, r);
//
// Per tensor: SQNR (dB), RMSE / scale (TFLite's rule of thumb: ~0.29 is the
// rounding floor, > 0.7 is suspicious), max abs error, and the fraction of
// float values outside the quantized range (clipped).  Errors accumulate
// through the network, as in deployment.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/convert.hpp"
#include "qtl/graph/float_executor.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/io/tflite/executor.hpp"

namespace qtl {

struct tensor_error {
    std::string tensor;        // the graph tensor's name
    std::string op;            // the op writing it ("input" for graph inputs)
    std::string type;          // INT8 / INT16 / UINT8
    float scale = 0;
    std::int32_t zero_point = 0;
    double sqnr_db = 0;            // 10 log10(sum x^2 / sum (x - x_q)^2); +inf when exact
    double rmse = 0;
    double rmse_over_scale = 0;    // rmse / scale
    double max_abs_error = 0;
    float float_min = 0, float_max = 0;  // what the float graph produced on the debug set
    float quant_min = 0, quant_max = 0;  // what the quantized tensor can represent
    double clipped_fraction = 0;          // float values more than one step outside [quant_min, quant_max]
    std::vector<std::size_t> histogram;   // float values over [hist_lo, hist_hi], for plots
    float hist_lo = 0, hist_hi = 0;
};

struct layer_report {
    std::vector<tensor_error> tensors;  // in execution order
    std::size_t samples = 0;
};

namespace detail {

struct error_accumulator {
    double signal = 0, noise = 0, max_abs = 0;
    std::size_t count = 0, clipped = 0;
    value_range seen;
    std::vector<std::size_t> histogram = std::vector<std::size_t>(64, 0);
};

inline double dequantized_value(std::span<const std::byte> bytes, tflite::tensor_type type, std::size_t i) {
    switch (type) {
        case tflite::tensor_type::INT8: return static_cast<double>(reinterpret_cast<const std::int8_t*>(bytes.data())[i]);
        case tflite::tensor_type::UINT8: return static_cast<double>(reinterpret_cast<const std::uint8_t*>(bytes.data())[i]);
        case tflite::tensor_type::INT16: return static_cast<double>(reinterpret_cast<const std::int16_t*>(bytes.data())[i]);
        case tflite::tensor_type::FLOAT32: return static_cast<double>(reinterpret_cast<const float*>(bytes.data())[i]);
        default: throw error("debug_layers", "tensor type " + tflite::describe(type) + " is not compared");
    }
}

inline std::pair<double, double> type_limits(tflite::tensor_type type) {
    switch (type) {
        case tflite::tensor_type::INT8: return {-128, 127};
        case tflite::tensor_type::UINT8: return {0, 255};
        case tflite::tensor_type::INT16: return {-32768, 32767};
        default: return {-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
    }
}

// Sets model input k from float values: quantized with the input's parameters
// (or copied for a float input).
inline void set_model_input(tflite::executor& ex, std::size_t k, std::span<const float> x) {
    const auto& t = ex.input_tensor(k);
    if (t.type == tflite::tensor_type::FLOAT32) {
        ex.set_input<float>(k, x);
        return;
    }
    check(t.quantization.has_value(), "debug_layers", "model input ", k, " is not quantized");
    const double scale = t.quantization->scale.at(0);
    const double zp = static_cast<double>(t.quantization->zero_point.at(0));
    const auto [lo, hi] = type_limits(t.type);
    auto q = [&](float v) { return std::clamp(std::round(v / scale) + zp, lo, hi); };
    if (t.type == tflite::tensor_type::INT8) {
        std::vector<std::int8_t> v(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) v[i] = static_cast<std::int8_t>(q(x[i]));
        ex.set_input<std::int8_t>(k, v);
    } else if (t.type == tflite::tensor_type::UINT8) {
        std::vector<std::uint8_t> v(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) v[i] = static_cast<std::uint8_t>(q(x[i]));
        ex.set_input<std::uint8_t>(k, v);
    } else if (t.type == tflite::tensor_type::INT16) {
        std::vector<std::int16_t> v(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) v[i] = static_cast<std::int16_t>(q(x[i]));
        ex.set_input<std::int16_t>(k, v);
    } else {
        throw error("debug_layers", "model input " + std::to_string(k) + " has type " + tflite::describe(t.type));
    }
}

}  // namespace detail

// samples: one entry per debug sample, one flat float vector per graph input.
inline layer_report debug_layers(const graph& g, const tflite::model& model, const conversion_report& conversion,
                                 const std::vector<std::vector<std::vector<float>>>& samples) {
    check(!samples.empty(), "debug_layers", "the debug set is empty");
    float_executor fx(g);
    tflite::executor qx(model, tflite::executor_options{.preserve_all_tensors = true});  // reads every tensor
    const auto& mt = model.main().tensors;

    struct watched {
        std::int32_t graph_tensor, model_tensor;
        std::string op;
    };
    std::vector<watched> list;
    // quantized tensors only: a layer kept in float has no grid to compare against
    auto quantized = [&](std::int32_t m) {
        const auto& t = mt.at(static_cast<std::size_t>(m));
        return t.type != tflite::tensor_type::FLOAT32 && t.quantization.has_value();
    };
    for (auto in : g.inputs)
        if (auto it = conversion.tensor_map.find(in); it != conversion.tensor_map.end() && quantized(it->second))
            list.push_back({in, it->second, "input"});
    for (const auto& n : g.nodes)
        for (auto o : n.outputs)
            if (auto it = conversion.tensor_map.find(o); it != conversion.tensor_map.end() && quantized(it->second))
                list.push_back({o, it->second, tflite::describe(n.op)});
    std::vector<detail::error_accumulator> acc(list.size());
    std::vector<std::pair<float, float>> qrange(list.size());
    for (std::size_t w = 0; w < list.size(); ++w) {
        const auto& t = mt.at(static_cast<std::size_t>(list[w].model_tensor));
        check(t.quantization.has_value(), "debug_layers", "model tensor '", t.name, "' is not quantized");
        const auto [lo, hi] = detail::type_limits(t.type);
        const double s = t.quantization->scale.at(0), zp = static_cast<double>(t.quantization->zero_point.at(0));
        qrange[w] = {static_cast<float>((lo - zp) * s), static_cast<float>((hi - zp) * s)};
    }

    for (std::size_t si = 0; si < samples.size(); ++si) {
        const auto& sample = samples[si];
        check(sample.size() == g.inputs.size(), detail::concat("debug sample ", si), "has ", sample.size(),
              " inputs, the graph has ", g.inputs.size());
        for (std::size_t k = 0; k < sample.size(); ++k) {
            fx.set_input(k, sample[k]);
            detail::set_model_input(qx, k, sample[k]);
        }
        fx.invoke();
        qx.invoke();
        for (std::size_t w = 0; w < list.size(); ++w) {
            const auto& t = mt[static_cast<std::size_t>(list[w].model_tensor)];
            const auto f = fx.values(list[w].graph_tensor);
            const auto bytes = qx.tensor_bytes(list[w].model_tensor);
            const double s = t.quantization->scale[0], zp = static_cast<double>(t.quantization->zero_point[0]);
            auto& a = acc[w];
            const auto [lo, hi] = qrange[w];
            const float width = hi - lo;
            for (std::size_t i = 0; i < f.size(); ++i) {
                const double x = f[i];
                const double xq = (detail::dequantized_value(bytes, t.type, i) - zp) * s;
                a.signal += x * x;
                a.noise += (x - xq) * (x - xq);
                a.max_abs = std::max(a.max_abs, std::abs(x - xq));
                a.seen.include(f[i]);
                // within a step of the end codes the error is a rounding error
                // (e.g. SOFTMAX's 1.0 on a grid ending at 255/256); past that it is clipping
                if (x < lo - s || x > hi + s) ++a.clipped;
                // histogram over the quantized range widened by a quarter on each side
                const double pos = (x - (lo - width / 4)) / (1.5 * width) * 64.0;
                a.histogram[static_cast<std::size_t>(std::clamp(pos, 0.0, 63.0))]++;
            }
            a.count += f.size();
        }
    }

    layer_report r;
    r.samples = samples.size();
    for (std::size_t w = 0; w < list.size(); ++w) {
        const auto& t = mt[static_cast<std::size_t>(list[w].model_tensor)];
        const auto& a = acc[w];
        tensor_error e;
        e.tensor = g.tensor(list[w].graph_tensor).name;
        e.op = list[w].op;
        e.type = tflite::describe(t.type);
        e.scale = t.quantization->scale[0];
        e.zero_point = static_cast<std::int32_t>(t.quantization->zero_point[0]);
        e.sqnr_db = a.noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(a.signal / a.noise);
        e.rmse = a.count ? std::sqrt(a.noise / static_cast<double>(a.count)) : 0.0;
        e.rmse_over_scale = e.rmse / e.scale;
        e.max_abs_error = a.max_abs;
        e.float_min = a.seen.min;
        e.float_max = a.seen.max;
        e.quant_min = qrange[w].first;
        e.quant_max = qrange[w].second;
        e.clipped_fraction = a.count ? static_cast<double>(a.clipped) / static_cast<double>(a.count) : 0.0;
        e.histogram = a.histogram;
        const float width = e.quant_max - e.quant_min;
        e.hist_lo = e.quant_min - width / 4;
        e.hist_hi = e.quant_max + width / 4;
        r.tensors.push_back(std::move(e));
    }
    return r;
}

// The worst (lowest) SQNR over the report's tensors.
inline const tensor_error* worst_sqnr(const layer_report& r) {
    const tensor_error* worst = nullptr;
    for (const auto& e : r.tensors)
        if (!worst || e.sqnr_db < worst->sqnr_db) worst = &e;
    return worst;
}

inline std::string verdict(const tensor_error& e) {
    if (e.clipped_fraction > 0.001) return "clipped";
    if (e.rmse_over_scale > 0.7) return "suspicious";
    return "ok";
}

inline void write_table(std::ostream& out, const layer_report& r) {
    char line[512];
    std::snprintf(line, sizeof line, "%-32s %-16s %-6s %10s %9s %11s %11s %9s  %s\n", "tensor", "op", "type", "scale",
                  "SQNR dB", "RMSE/scale", "max |err|", "clipped", "verdict");
    out << line;
    for (const auto& e : r.tensors) {
        std::string name = e.tensor.size() > 32 ? "..." + e.tensor.substr(e.tensor.size() - 29) : e.tensor;
        std::snprintf(line, sizeof line, "%-32s %-16s %-6s %10.4g %9.2f %11.3f %11.4g %8.3f%%  %s\n", name.c_str(),
                      e.op.c_str(), e.type.c_str(), static_cast<double>(e.scale), e.sqnr_db, e.rmse_over_scale,
                      e.max_abs_error, 100.0 * e.clipped_fraction, verdict(e).c_str());
        out << line;
    }
}

inline std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

inline void write_csv(std::ostream& out, const layer_report& r) {
    out << "tensor,op,type,scale,zero_point,sqnr_db,rmse,rmse_over_scale,max_abs_error,float_min,float_max,"
           "quant_min,quant_max,clipped_fraction\n";
    for (const auto& e : r.tensors)
        out << csv_field(e.tensor) << ',' << e.op << ',' << e.type << ',' << e.scale << ',' << e.zero_point << ','
            << e.sqnr_db << ',' << e.rmse << ',' << e.rmse_over_scale << ',' << e.max_abs_error << ',' << e.float_min
            << ',' << e.float_max << ',' << e.quant_min << ',' << e.quant_max << ',' << e.clipped_fraction << '\n';
}

inline std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

// One self-contained HTML page (inline SVG, no scripts): per-layer SQNR and
// RMSE/scale bars, then each tensor's float histogram with the quantized
// range marked.
inline void write_html(std::ostream& out, const layer_report& r, const std::string& title = "qtl per-layer report") {
    out << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" << html_escape(title)
        << "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}svg{background:#fafafa}"
           ".bad{color:#b00}</style></head><body>\n<h1>"
        << html_escape(title) << "</h1><p>" << r.samples << " debug samples, " << r.tensors.size()
        << " quantized tensors. RMSE/scale near 0.29 is the rounding floor; above 0.7 is suspicious.</p>\n";
    auto bars = [&](const char* label, auto value, double limit, double mark) {
        const double row = 16, w = 400, left = 260;
        out << "<h2>" << label << "</h2><svg width=\"" << left + w + 80 << "\" height=\"" << row * static_cast<double>(r.tensors.size()) + 10
            << "\">\n";
        for (std::size_t i = 0; i < r.tensors.size(); ++i) {
            const auto& e = r.tensors[i];
            const double v = std::min(value(e), limit);
            const double y = row * static_cast<double>(i);
            out << "<text x=\"" << left - 4 << "\" y=\"" << y + 12 << "\" font-size=\"11\" text-anchor=\"end\">"
                << html_escape(e.tensor.size() > 40 ? "..." + e.tensor.substr(e.tensor.size() - 37) : e.tensor)
                << "</text><rect x=\"" << left << "\" y=\"" << y + 2 << "\" width=\"" << std::max(0.0, v / limit * w)
                << "\" height=\"" << row - 4 << "\" fill=\"" << (verdict(e) == "ok" ? "#4a7" : "#d55") << "\"/><text x=\""
                << left + std::max(0.0, v / limit * w) + 4 << "\" y=\"" << y + 12 << "\" font-size=\"11\">" << value(e)
                << "</text>\n";
        }
        if (mark > 0)
            out << "<line x1=\"" << left + mark / limit * w << "\" x2=\"" << left + mark / limit * w
                << "\" y1=\"0\" y2=\"" << row * static_cast<double>(r.tensors.size()) << "\" stroke=\"#d55\" stroke-dasharray=\"4\"/>";
        out << "</svg>\n";
    };
    bars("SQNR (dB, higher is better)", [](const tensor_error& e) { return std::isinf(e.sqnr_db) ? 99.0 : e.sqnr_db; }, 60.0, 0);
    bars("RMSE / scale (dashed: 0.7)", [](const tensor_error& e) { return e.rmse_over_scale; }, 2.0, 0.7);

    out << "<h2>Per tensor</h2><table><tr><th>tensor</th><th>op</th><th>type</th><th>scale</th><th>zero point</th>"
           "<th>SQNR dB</th><th>RMSE/scale</th><th>max |err|</th><th>float range</th><th>quantized range</th>"
           "<th>clipped</th><th>histogram (red: quantized range)</th></tr>\n";
    for (const auto& e : r.tensors) {
        out << "<tr><td>" << html_escape(e.tensor) << "</td><td>" << e.op << "</td><td>" << e.type << "</td><td>"
            << e.scale << "</td><td>" << e.zero_point << "</td><td>" << e.sqnr_db << "</td><td"
            << (e.rmse_over_scale > 0.7 ? " class=\"bad\"" : "") << ">" << e.rmse_over_scale << "</td><td>"
            << e.max_abs_error << "</td><td>[" << e.float_min << ", " << e.float_max << "]</td><td>[" << e.quant_min
            << ", " << e.quant_max << "]</td><td" << (e.clipped_fraction > 0.001 ? " class=\"bad\"" : "") << ">"
            << 100.0 * e.clipped_fraction << "%</td><td><svg width=\"260\" height=\"60\">";
        const auto peak = std::max<std::size_t>(1, *std::max_element(e.histogram.begin(), e.histogram.end()));
        for (std::size_t b = 0; b < e.histogram.size(); ++b) {
            const double h = 50.0 * std::log1p(static_cast<double>(e.histogram[b])) / std::log1p(static_cast<double>(peak));
            out << "<rect x=\"" << 2 + 4 * static_cast<double>(b) << "\" y=\"" << 55 - h << "\" width=\"3\" height=\"" << h
                << "\" fill=\"#479\"/>";
        }
        // the quantized range spans bins 16..48 of 64 (the histogram is 1.5x wider)
        out << "<line x1=\"66\" x2=\"66\" y1=\"0\" y2=\"60\" stroke=\"#d55\"/><line x1=\"194\" x2=\"194\" y1=\"0\" "
               "y2=\"60\" stroke=\"#d55\"/></svg></td></tr>\n";
    }
    out << "</table></body></html>\n";
}

}  // namespace qtl
