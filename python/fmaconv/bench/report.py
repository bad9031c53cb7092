"""Output: the text table, the JSON dump and the optional PNG plot."""
from __future__ import annotations

import json
from collections import defaultdict

from .peers import FMACONV, FMACONV_PACKED, NUMPY, ORT, TORCH
from .run import Table
from .timing import TimingConfig

NOISY_CORES = 0.25      # flag cases during which others used this much CPU
RATIO_COLUMNS = ((TORCH, "vs torch"), (ORT, "vs ORT"), (NUMPY, "vs numpy"))


# ---- formatting helpers ---------------------------------------------------
def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.1f} us"
    if t < 1.0:
        return f"{t * 1e3:.3f} ms"
    return f"{t:.3f} s"


def fmt_num(v: float | None, fmt: str, suffix: str = "") -> str:
    return "-" if v is None else format(v, fmt) + suffix


def _blas(n) -> str:
    return f"{n} (threadpoolctl)" if n else "threads NOT controlled (install threadpoolctl)"


def _n(v) -> str:
    return "-" if v is None else str(v)


def _fmt_isa_list(v) -> str:
    if isinstance(v, dict):
        return ",".join(k for k, ok in v.items() if ok)
    if isinstance(v, (list, tuple, set)):
        return ",".join(map(str, v))
    return str(v)


def _grid(headers, rows, right) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


# ---- text table -------------------------------------------------------------
def header_lines(machine: dict, table: Table, cfg: TimingConfig) -> list[str]:
    v, cfg_fc = machine["versions"], machine.get("fmaconv_config")
    t = table.threads
    if cfg_fc:
        fc = (f"fmaconv {cfg_fc.get('version', '?')} (isa {cfg_fc.get('isa', '?')}; "
              f"available {_fmt_isa_list(cfg_fc.get('isa_available', '?'))})")
    else:
        fc = "fmaconv: core not importable (fmaconv columns show '-')"
    peers = " | ".join([fc] + [f"{name} {v[key] or 'not installed'}"
                               for key, name in ((TORCH, "torch"), (ORT, "onnxruntime"),
                                                 (NUMPY, "numpy"))])
    peak = fmt_num(table.peak_gflops, ".1f", " GFLOP/s")
    return [
        f"== fmaconv bench: {table.dtype}, {t} thread{'s' * (t != 1)} ==",
        f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['arch']}, "
        f"{machine['os']}), Python {machine['python']}, load average "
        f"{'/'.join(map(str, table.loadavg or ['?']))} (before this table)",
        peers,
        f"measured FMA peak ({table.dtype}, {t} thread{'s' * (t != 1)}): {peak}",
        f"threads: fmaconv {_n(table.reported_threads.get(FMACONV))}, torch "
        f"{_n(table.reported_threads.get(TORCH))} (get_num_threads), ORT intra_op {t} inter_op 1 "
        f"sequential; numpy BLAS {_blas(table.reported_threads.get('numpy_blas'))}; np.copyto "
        f"is single-threaded",
        f"timing: median per call, >= {cfg.repeat} runs and >= {cfg.min_time:g} s each after "
        f"{cfg.warmup} warm-up; fmaconv/torch/ORT/copy interleaved in ~{cfg.burst_time * 1e3:g} "
        f"ms bursts {cfg.settle * 1e3:g} ms apart, numpy timed separately afterwards",
        "columns: vs X = X time / fmaconv time (>1: fmaconv faster); x copy = fmaconv time / "
        "np.copyto(input) time; packed vs ORT = ORT time / fmaconv.PackedConv time (both pack the "
        "weights once, before timing; the other columns time the functional call, which packs "
        "per call); ok = fmaconv output allclose to torch's (rtol 1e-3, atol 1e-4); "
        "busy = cores other processes kept busy meanwhile",
    ]


def format_table(machine: dict, table: Table, cfg: TimingConfig) -> str:
    headers = ["case", "shape", "fmaconv", "rate", "%peak", "x copy"] \
        + [h for _, h in RATIO_COLUMNS] + ["packed vs ORT", "ok", "busy"]
    right = [False, False] + [True] * (len(headers) - 2)
    rows = []
    for r in table.results:
        rows.append([r.case.name, r.case.summary(), fmt_time(r.time(FMACONV)),
                     fmt_num(r.rate, ".1f", " " + r.rate_unit),
                     fmt_num(r.pct_peak, ".1f", "%"), fmt_num(r.x_copy, ".2f", "x")]
                    + [fmt_num(r.ratio(impl), ".2f", "x") for impl, _ in RATIO_COLUMNS]
                    + [fmt_num(r.ratio(ORT, FMACONV_PACKED), ".2f", "x"), r.ok, fmt_num(r.other_cores, ".2f")])
    return "\n".join(header_lines(machine, table, cfg) + [""] + _grid(headers, rows, right)
                     + notes(table))


def notes(table: Table) -> list[str]:
    """Failed checks and skipped implementations, grouped by reason."""
    out = []
    for r in table.results:
        for impl, why in r.checks.items():
            if why is not None:
                out.append(f"  MISMATCH {r.case.name}: {impl} vs {r.reference}: {why}")
    other_ref = [r.case.name for r in table.results
                 if FMACONV in r.checks and r.reference != TORCH]
    if other_ref:
        which = "all cases" if len(other_ref) == len(table.results) else ", ".join(other_ref)
        out.append(f"  ok column checked against the numpy baseline, not torch ({which})")
    noisy = [r.case.name for r in table.results
             if r.other_cores is not None and r.other_cores >= NOISY_CORES]
    if noisy:
        which = "all cases" if len(noisy) == len(table.results) else ", ".join(noisy)
        out.append(f"  WARNING: other processes kept >= {NOISY_CORES} cores busy (column busy) "
                   f"during {which}: timings unreliable, multi-thread ones especially")
    skipped = defaultdict(list)
    for r in table.results:
        for impl, why in r.skipped.items():
            skipped[(impl, why)].append(r.case.name)
    for (impl, why), names in skipped.items():
        which = "all cases" if len(names) == len(table.results) else ", ".join(names)
        out.append(f"  {impl} skipped ({which}): {why}")
    return ["", "notes:"] + out if out else []


# ---- JSON -------------------------------------------------------------------
def write_json(path: str, machine: dict, tables: list[Table], cfg: TimingConfig,
               argv: list[str] | None = None) -> None:
    doc = {"machine": machine,
           "timing": {"repeat": cfg.repeat, "min_time": cfg.min_time,
                      "warmup": cfg.warmup, "max_runs": cfg.max_runs,
                      "burst_time": cfg.burst_time, "settle": cfg.settle,
                      "cooldown": cfg.cooldown},
           "argv": argv, "tables": [t.to_dict() for t in tables]}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)


# ---- plot -------------------------------------------------------------------
def write_plot(path: str, tables: list[Table]) -> str | None:
    """PNG bar chart of the speed ratios vs torch/ORT; returns an error
    message instead of raising when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot written (pip install matplotlib)"
    names = [r.case.name for r in tables[0].results]
    series = [(f"vs {label} ({t.threads} thr)", [r.ratio(impl) for r in t.results])
              for t in tables for impl, label in ((TORCH, "torch"), (ORT, "ORT"))]
    series = [(lbl, vals) for lbl, vals in series if any(v for v in vals)]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(names) * max(1, len(series)) / 2 + 1.5))
    h = 0.8 / max(1, len(series))
    for i, (label, vals) in enumerate(series):
        ys = [j + (i - (len(series) - 1) / 2) * h for j in range(len(names))]
        ax.barh(ys, [v if v else float("nan") for v in vals], height=h, label=label)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("speed-up of fmaconv (peer time / fmaconv time, >1: fmaconv faster)")
    ax.set_title(f"fmaconv vs PyTorch / ONNX Runtime ({tables[0].dtype})")
    if series:
        ax.legend(fontsize="small", loc="best")
    else:
        ax.text(0.5, 0.5, "no ratios (fmaconv or peers missing)", transform=ax.transAxes,
                ha="center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None
