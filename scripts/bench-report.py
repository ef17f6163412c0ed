#!/usr/bin/python3
"""qtl's benchmark results: merge and report (Python 3 standard library only).

  bench-report.py merge OUT.json IN.json...
      One Google Benchmark JSON file from several (bench_fc, bench_conv,
      bench_models, bench/litert_latency.mjs): the first file's context (plus
      the keys the others add), every benchmark entry in order.

  bench-report.py report RESULTS.json --md docs/benchmarks.md --svg docs/benchmarks.svg
                  [--template bench/benchmarks.md.in]
      Writes the markdown page (the template with @RESULTS@ replaced by the
      tables) and the plot (gnuplot, SVG terminal).  Every number comes from
      RESULTS.json: the median over repetitions (Google Benchmark's `median`
      aggregate, or the median of the repetitions when there is none).

Names are <layer>/<backend>; layers report a GOPS counter (2 x multiply-
accumulates per second of CPU time), whole models latency_ms (median
wall-clock latency) and cpu_ms (median CPU time per run).
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

LAYER_BACKENDS = ["qtl", "onednn", "xnnpack"]
MODEL_BACKENDS = ["qtl", "litert", "litert_relaxed"]
BACKEND_TITLES = {
    "qtl": "qtl",
    "onednn": "oneDNN",
    "xnnpack": "XNNPACK",
    "litert": "LiteRT",
    "litert_relaxed": "LiteRT relaxed-SIMD",
}
# The instruction each qtl GEMM kernel multiplies with, by the kernel name in
# the context (qtl_gemm_int8_kernel), and its peak benchmark.
PEAK_OF_KERNEL = {
    "avx512_vnni": "vpdpbusd_peak/zmm",
    "avx_vnni": "vpdpbusd_peak/ymm",
    "avx2": "vpmaddwd_peak/ymm",
}
PEAKS = ["vpdpbusd_peak/zmm", "vpdpbusd_peak/ymm", "vpmaddwd_peak/ymm", "vpmaddwd_vpaddd_peak/ymm",
         "vpmaddubsw_peak/ymm"]
# What each peak measures, for the table.
PEAK_MEANINGS = {
    "vpdpbusd_peak/zmm": "AVX-512 VNNI: zmm VPDPBUSD, 64 multiply-accumulates an instruction",
    "vpdpbusd_peak/ymm": "AVX-VNNI: ymm VPDPBUSD, 32 multiply-accumulates an instruction",
    "vpmaddwd_peak/ymm": "AVX2: VPMADDWD alone, the int16 multipliers' rate (16 multiply-accumulates)",
    "vpmaddwd_vpaddd_peak/ymm": "AVX2: VPMADDWD + VPADDD, the mix an exact int8 kernel must issue",
    "vpmaddubsw_peak/ymm": "AVX2: VPMADDUBSW + VPMADDWD + VPADDD, oneDNN's saturating (inexact) mix",
}
# On AVX2 qtl is also compared with the ceiling of the exact mix it issues.
EXACT_MIX_OF_KERNEL = {"avx2": "vpmaddwd_vpaddd_peak/ymm"}


def fail(message):
    sys.exit("bench-report: " + message)


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        fail(f"{path} is not Google Benchmark JSON (no 'benchmarks' list)")
    return data


# --- merge -------------------------------------------------------------------

def merge(out, inputs):
    context = {}
    benchmarks = []
    families = 0
    for path in inputs:
        # A binary whose benchmarks the filter left out writes an empty file.
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            print(f"bench-report: {path} is empty (no benchmark matched), skipped")
            continue
        data = load(path)
        for key, value in data.get("context", {}).items():
            context.setdefault(key, value)
        base = families
        for entry in data["benchmarks"]:
            entry = dict(entry)
            if isinstance(entry.get("family_index"), int):
                entry["family_index"] += base
                families = max(families, entry["family_index"] + 1)
            benchmarks.append(entry)
    context["merged_from"] = [os.path.basename(p) for p in inputs]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"context": context, "benchmarks": benchmarks}, f, indent=2)
        f.write("\n")
    print(f"bench-report: {len(benchmarks)} entries from {len(inputs)} files -> {out}")


# --- reading results -----------------------------------------------------------

class Run:
    """One benchmark (all its repetitions): medians of its counters."""

    def __init__(self, name):
        self.name = name
        self.iterations = []
        self.medians = {}
        self.error = None

    def value(self, field):
        if field in self.medians:
            return self.medians[field]
        values = [e[field] for e in self.iterations if isinstance(e.get(field), (int, float))]
        return statistics.median(values) if values else None

    def label(self):
        for e in self.iterations:
            if e.get("label"):
                return e["label"]
        return ""

    def max_of(self, field):
        values = [e[field] for e in self.iterations if isinstance(e.get(field), (int, float))]
        return max(values) if values else None

    def min_of(self, field):
        values = [e[field] for e in self.iterations if isinstance(e.get(field), (int, float))]
        return min(values) if values else None


def collect(data):
    """Runs by name, and the names in the order the binaries register them
    (family_index, renumbered across files by merge): with random interleaving
    the entries come in a shuffled order.  Entries without one (LiteRT's)
    follow, in the order they come."""
    runs = {}
    first_seen = {}
    family = {}
    for e in data["benchmarks"]:
        name = e.get("run_name") or e.get("name")
        if name not in runs:
            runs[name] = Run(name)
            first_seen[name] = len(first_seen)
        if isinstance(e.get("family_index"), int):
            family[name] = min(family.get(name, e["family_index"]), e["family_index"])
        run = runs[name]
        if e.get("error_occurred"):
            run.error = e.get("error_message", "error")
        elif e.get("run_type") == "aggregate":
            if e.get("aggregate_name") == "median":
                run.medians = {k: v for k, v in e.items() if isinstance(v, (int, float))}
        else:
            run.iterations.append(e)
    order = sorted(runs, key=lambda n: (family.get(n, float("inf")), first_seen[n]))
    return runs, order


def split(name):
    layer, _, backend = name.rpartition("/")
    return layer, backend


# --- formatting ------------------------------------------------------------------

def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:.{decimals}f}"


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def layer_target(layer):
    """The issue #7 target for qtl / oneDNN on this shape, as (ratio, text)."""
    if layer.startswith("fc_"):
        m = int(layer[3:].split("x")[0])
        return (1.2, ">= 1.2x") if m == 1 else (0.95, ">= 0.95x")
    if layer.startswith("dwconv"):
        return (1.5, ">= 1.5x")
    if layer.startswith("conv3x3s2_224x224x3"):
        return (1.0, ">= 1.0x")
    return (0.95, ">= 0.95x")


def verdict(value, target):
    if value is None:
        return "-"
    return "met" if value >= target else "missed"


def layer_title(layer):
    if layer.startswith("fc_"):
        m, k, n = layer[3:].split("x")
        return f"FC {m}x{k}x{n}"
    dw = layer.startswith("dwconv")
    kind, _, dims = layer.partition("_")
    kind = kind[len("dwconv"):] if dw else kind[len("conv"):]
    parts = dims.split("x")
    if dw:
        return f"dw {kind} {parts[0]}x{parts[1]}x{parts[2]}"
    return f"conv {kind} {parts[0]}x{parts[1]}x{parts[2]}->{parts[3]}"


# --- report ------------------------------------------------------------------------

def build_tables(data, results_path):
    runs, order = collect(data)
    ctx = data.get("context", {})
    lines = []

    layers, models = [], []
    for name in order:
        layer, backend = split(name)
        if backend in LAYER_BACKENDS and (layer.startswith("fc_") or layer.startswith("conv") or layer.startswith("dwconv")):
            if layer not in layers:
                layers.append(layer)
        elif backend in MODEL_BACKENDS and not layer.startswith(("fc_", "conv", "dwconv")) and "peak" not in layer:
            if layer not in models:
                models.append(layer)

    def gops(layer, backend):
        run = runs.get(f"{layer}/{backend}")
        return None if run is None or run.error else run.value("GOPS")

    # Machine and run.
    caches = ", ".join(f"L{c.get('level')} {c.get('type', '')[:1].lower()}{c.get('size', 0) // 1024} KiB"
                       for c in ctx.get("caches", []))
    lines.append(f"Generated by `scripts/bench-report.py` from `{results_path}` "
                 f"(run of {ctx.get('date', '?')}).")
    lines.append("")
    reps = sorted({e.get("repetitions", 1) for e in data["benchmarks"] if isinstance(e.get("repetitions"), int)})
    lines.append(f"- machine: `{ctx.get('host_name', '?')}`, {ctx.get('num_cpus', '?')} CPUs at "
                 f"{ctx.get('mhz_per_cpu', '?')} MHz; caches {caches or '?'}; load average at start "
                 f"{', '.join(fmt(x) for x in ctx.get('load_avg', [])) or '?'}")
    lines.append(f"- qtl GEMM kernel: `{ctx.get('qtl_gemm_int8_kernel', '?')}`; repetitions: "
                 f"{', '.join(map(str, reps)) or '1'} (medians shown); one thread, pinned to one core")
    if ctx.get("litert"):
        lines.append(f"- LiteRT: {ctx.get('litert')} (WebAssembly, XNNPACK delegate, one thread), "
                     f"node; `litert` is its `compat` (SIMD128) build, `litert_relaxed` its relaxed-SIMD build")
    lines.append("")

    # Peaks.
    peak_rows = []
    for p in PEAKS:
        run = runs.get(p)
        if run is None:
            continue
        peak_rows.append((p, "not supported" if run.error else fmt(run.value("GOPS")), PEAK_MEANINGS.get(p, "")))
    kernel = ctx.get("qtl_gemm_int8_kernel", "")
    peak_name = PEAK_OF_KERNEL.get(kernel)
    peak = None
    if peak_name and peak_name in runs and not runs[peak_name].error:
        peak = runs[peak_name].value("GOPS")
    mix_name = EXACT_MIX_OF_KERNEL.get(kernel)
    mix = None
    if mix_name and mix_name in runs and not runs[mix_name].error:
        mix = runs[mix_name].value("GOPS")
    if peak_rows:
        lines.append("### Instruction peaks (GOPS, one core)")
        lines.append("")
        lines.append("| peak | GOPS | what it runs |")
        lines.append("|---|---|---|")
        for p, v, meaning in peak_rows:
            lines.append(f"| `{p}` | {v} | {meaning} |")
        lines.append("")
        if peak is not None:
            lines.append(f"qtl's % of peak below is relative to `{peak_name}` ({fmt(peak)} GOPS), the instruction "
                         f"of the `{kernel}` kernel qtl selected on this machine.")
            if mix is not None:
                lines.append(f"qtl % of exact mix is relative to `{mix_name}` ({fmt(mix)} GOPS, "
                             f"{100.0 * mix / peak:.0f}% of `{peak_name}`), the most an exact kernel's "
                             f"instructions run at here.")
            lines.append("")

    # Layers.
    if layers:
        lines.append("### Layers (GOPS, higher is better)")
        lines.append("")
        lines.append("| layer | qtl | oneDNN | XNNPACK | qtl / oneDNN | target | qtl / XNNPACK (target >= 3x) "
                     "| qtl % of peak |" + (" qtl % of exact mix |" if mix else "") + " notes |")
        lines.append("|---|---|---|---|---|---|---|---|" + ("---|" if mix else "") + "---|")
        for layer in layers:
            q, d, x = gops(layer, "qtl"), gops(layer, "onednn"), gops(layer, "xnnpack")
            rd, rx = ratio(q, d), ratio(q, x)
            target, target_text = layer_target(layer)
            notes = []
            for backend in LAYER_BACKENDS:
                run = runs.get(f"{layer}/{backend}")
                if run is None:
                    continue
                if run.error:
                    notes.append(f"{BACKEND_TITLES[backend]}: {run.error}")
                    continue
                diff = run.max_of("max_diff")
                if diff is not None and diff > (0 if backend == "qtl" else 1):
                    notes.append(f"{BACKEND_TITLES[backend]} differs by up to {int(diff)} LSB")
            onednn = runs.get(f"{layer}/onednn")
            if onednn and onednn.label():
                notes.append(f"oneDNN `{onednn.label()}`")
            pct = f"{100.0 * q / peak:.0f}%" if q is not None and peak else "-"
            if mix:
                pct += f" | {100.0 * q / mix:.0f}%" if q is not None else " | -"
            lines.append(f"| `{layer}` | {fmt(q)} | {fmt(d)} | {fmt(x)} | {fmt(rd)} | {target_text}: "
                         f"{verdict(rd, target)} | {fmt(rx)}: {verdict(rx, 3.0)} | {pct} | {'; '.join(notes)} |")
        lines.append("")

    # Models.
    if models:
        lines.append("### Whole models (milliseconds, lower is better)")
        lines.append("")
        lines.append("Latency: median wall-clock time of one inference; CPU: median CPU time per inference; "
                     "fastest: the quickest inference of each over all rounds (another process on the core only "
                     "ever adds time, so on a shared machine the fastest runs compare best). qtl and LiteRT take "
                     "turns, one repetition each per round.")
        lines.append("")
        lines.append("| model | qtl latency | qtl CPU | LiteRT latency | LiteRT CPU | LiteRT relaxed latency "
                     "| LiteRT / qtl (latency) | LiteRT / qtl (CPU) | LiteRT / qtl (fastest) |")
        lines.append("|---|---|---|---|---|---|---|---|---|")

        def val(model, backend, field):
            run = runs.get(f"{model}/{backend}")
            return None if run is None or run.error else run.value(field)

        def fastest(model, backend):
            run = runs.get(f"{model}/{backend}")
            return None if run is None or run.error else run.min_of("min_ms")
        for model in models:
            ql, qc = val(model, "qtl", "latency_ms"), val(model, "qtl", "cpu_ms")
            ll, lc = val(model, "litert", "latency_ms"), val(model, "litert", "cpu_ms")
            rl = val(model, "litert_relaxed", "latency_ms")
            target = " (target >= 4x)" if model == "mobilenet_v2" else ""
            lines.append(f"| `{model}` | {fmt(ql)} | {fmt(qc)} | {fmt(ll)} | {fmt(lc)} | {fmt(rl)} | "
                         f"{fmt(ratio(ll, ql))}{target} | {fmt(ratio(lc, qc))} | "
                         f"{fmt(ratio(fastest(model, 'litert'), fastest(model, 'qtl')))} |")
        lines.append("")
        # The roofline of each model: its multiply-accumulates at the best rate
        # the machine's instructions allow qtl (exact), next to what 4x LiteRT needs.
        ceiling_name = mix_name if mix is not None else peak_name
        ceiling = mix if mix is not None else peak
        rows = []
        for model in models:
            macs, gops = val(model, "qtl", "macs"), val(model, "qtl", "GOPS")
            if not macs:
                continue
            floor = 2.0 * macs / (ceiling * 1e9) * 1e3 if ceiling else None
            ll = val(model, "litert", "latency_ms")
            rows.append(f"| `{model}` | {macs / 1e6:.1f} | {fmt(gops)} | "
                        f"{fmt(100.0 * gops / ceiling) + '%' if ceiling and gops else '-'} | {fmt(floor)} | "
                        f"{fmt(ll / 4.0) if ll else '-'} |")
        if rows:
            lines.append(f"Roofline: the models' multiply-accumulates (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) "
                         f"and the time they take at `{ceiling_name}` alone, with nothing else run; "
                         f"LiteRT latency / 4 is what the 4x target asks of qtl.")
            lines.append("")
            lines.append(f"| model | MACs (millions) | qtl GOPS | qtl % of `{ceiling_name}` | "
                         f"MACs alone at `{ceiling_name}` (ms) | LiteRT latency / 4 (ms) |")
            lines.append("|---|---|---|---|---|---|")
            lines.extend(rows)
            lines.append("")

        # Where qtl's time goes: bench_models' per-operator-type counters
        # (op_<TYPE>_ms, op_<TYPE>_count; absent in results from before them).
        for model in models:
            run = runs.get(f"{model}/qtl")
            if run is None or run.error:
                continue
            fields = {k for e in run.iterations for k in e if k.startswith("op_") and k.endswith("_ms")}
            types = sorted((k[len("op_"):-len("_ms")] for k in fields),
                           key=lambda t: -(run.value(f"op_{t}_ms") or 0.0))
            total = run.value("operators_ms")
            if not types or not total:
                continue
            lines.append(f"Where qtl's time goes in `{model}`: each operator run alone, 10 times in a row, "
                         f"its fastest run counted (warm caches: a lower bound of its share); medians over the "
                         f"repetitions. The operators sum to {fmt(total)} ms against the {fmt(val(model, 'qtl', 'latency_ms'))} "
                         f"ms latency of whole inferences.")
            lines.append("")
            lines.append("| operator | count | ms | share |")
            lines.append("|---|---|---|---|")
            for t in types:
                ms, count = run.value(f"op_{t}_ms"), run.value(f"op_{t}_count")
                lines.append(f"| `{t}` | {int(count) if count is not None else '-'} | {fmt(ms)} | "
                             f"{100.0 * ms / total:.1f}% |")
            lines.append("")

    return lines, layers, models, runs, peak, peak_name


def gnuplot_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plot(svg, layers, models, runs, peak, peak_name):
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        fail("gnuplot not found (Debian package gnuplot-nox; scripts/bench.sh installs it)")

    def value(name, field):
        run = runs.get(name)
        v = None if run is None or run.error else run.value(field)
        return "?" if v is None else f"{v:.6g}"

    with tempfile.TemporaryDirectory() as tmp:
        layer_data = os.path.join(tmp, "layers.dat")
        with open(layer_data, "w", encoding="utf-8") as f:
            for layer in layers:
                f.write(gnuplot_string(layer_title(layer)) + " " +
                        " ".join(value(f"{layer}/{b}", "GOPS") for b in LAYER_BACKENDS) + "\n")
        model_data = os.path.join(tmp, "models.dat")
        with open(model_data, "w", encoding="utf-8") as f:
            for model in models:
                f.write(gnuplot_string(model) + " " +
                        " ".join(value(f"{model}/{b}", "cpu_ms") for b in MODEL_BACKENDS) + "\n")
        # Log axes from a power of ten below the smallest bar to room for the key above the tallest.
        def axis(values):
            values = [v for v in values if v and v > 0]
            if not values:
                return 0.1, 10.0
            return 10.0 ** math.floor(math.log10(min(values))), max(values) * 6.0

        def numbers(names, field):
            out = []
            for name in names:
                run = runs.get(name)
                if run is not None and not run.error and run.value(field) is not None:
                    out.append(run.value(field))
            return out

        layer_low, layer_high = axis(numbers([f"{l}/{b}" for l in layers for b in LAYER_BACKENDS], "GOPS") +
                                     ([peak] if peak else []))
        model_low, model_high = axis(numbers([f"{m}/{b}" for m in models for b in MODEL_BACKENDS], "cpu_ms"))
        script = os.path.join(tmp, "plot.gp")
        colors = ["#1b9e77", "#7570b3", "#d95f02"]
        with open(script, "w", encoding="utf-8") as f:
            f.write(f"""set terminal svg size 1280,600 noenhanced font "sans,11" background "#ffffff"
set output {gnuplot_string(svg)}
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set grid ytics
set key top center horizontal width 3 samplen 2
set logscale y
set multiplot
set origin 0,0
set size 0.74,1
set lmargin 8
set bmargin 10
set title "int8 layers, one core: GOPS (log scale)"
set ylabel "GOPS"
set xtics rotate by -40 left scale 0
set yrange [{layer_low:.6g}:{layer_high:.6g}]
""")
            if peak is not None:
                f.write(f"set arrow 1 from graph 0, first {peak:.6g} to graph 1, first {peak:.6g} nohead dt 2 lw 1.5\n")
                f.write(f"set label 1 {gnuplot_string(f'peak: {peak_name}, {peak:.0f} GOPS')} at graph 0.01, "
                        f"first {peak * 1.15:.6g}\n")
            f.write(f"plot {gnuplot_string(layer_data)} using 2:xtic(1) title 'qtl' lc rgb '{colors[0]}', "
                    f"'' using 3 title 'oneDNN' lc rgb '{colors[1]}', "
                    f"'' using 4 title 'XNNPACK' lc rgb '{colors[2]}'\n")
            f.write(f"""unset arrow 1
unset label 1
set origin 0.74,0
set size 0.26,1
set lmargin 8
set title "models: CPU ms per inference (log)"
set key top right vertical
set ylabel "ms"
set xtics rotate by -30 left scale 0
set yrange [{model_low:.6g}:{model_high:.6g}]
plot {gnuplot_string(model_data)} using 2:xtic(1) title 'qtl' lc rgb '{colors[0]}', \\
     '' using 3 title 'LiteRT' lc rgb '#e7298a', '' using 4 title 'LiteRT relaxed' lc rgb '#66a61e'
unset multiplot
""")
        result = subprocess.run([gnuplot, script], capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"gnuplot failed:\n{result.stderr}")


def report(results, md, svg, template):
    data = load(results)
    lines, layers, models, runs, peak, peak_name = build_tables(data, os.path.relpath(results))
    lines.append(f"![qtl next to oneDNN, XNNPACK and LiteRT]({os.path.relpath(svg, os.path.dirname(md) or '.')})")
    results_text = "\n".join(lines)
    if template:
        with open(template, encoding="utf-8") as f:
            page = f.read()
        if "@RESULTS@" not in page:
            fail(f"{template} has no @RESULTS@ placeholder")
        page = page.replace("@RESULTS@", results_text)
    else:
        page = "# Benchmarks\n\n" + results_text + "\n"
    plot(svg, layers, models, runs, peak, peak_name)
    with open(md, "w", encoding="utf-8") as f:
        f.write(page if page.endswith("\n") else page + "\n")
    print(f"bench-report: {md} and {svg} written from {results}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge", help="merge Google Benchmark JSON files")
    m.add_argument("out")
    m.add_argument("inputs", nargs="+")
    r = sub.add_parser("report", help="write the markdown page and the plot")
    r.add_argument("results")
    r.add_argument("--md", required=True)
    r.add_argument("--svg", required=True)
    r.add_argument("--template")
    args = parser.parse_args()
    if args.command == "merge":
        merge(args.out, args.inputs)
    else:
        report(args.results, args.md, args.svg, args.template)


if __name__ == "__main__":
    main()
