"""python -m fmaconv.bench: run the fixed suite and print one table per thread count."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from . import machine, report
from .cases import ALL_CASES, select
from .run import WATCHDOG_S, run_suite
from .timing import QUICK, TimingConfig


def _threads(s: str) -> list[int]:
    try:
        ts = [int(t) for t in s.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of integers: {s!r}") from None
    if not ts or any(t < 1 for t in ts):
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1: {s!r}")
    return ts


def parse_args(argv=None):
    default_cfg = TimingConfig()
    p = argparse.ArgumentParser(
        prog="python -m fmaconv.bench",
        description="Benchmark fmaconv against PyTorch, ONNX Runtime and a NumPy baseline "
                    "on a fixed suite of convolution and pooling cases.")
    p.add_argument("--threads", type=_threads, default=None,
                   help="comma list of thread counts, one table each "
                        f"(default: 1 and the number of cores, here 1,{machine.cores()})")
    p.add_argument("--filter", default=None,
                   help="run only cases whose name matches (regex search or substring)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--repeat", type=int, default=None,
                   help=f"minimum timed runs per implementation (default {default_cfg.repeat}, "
                        f"--quick {QUICK.repeat})")
    p.add_argument("--min-time", type=float, default=None,
                   help="minimum accumulated seconds per implementation "
                        f"(default {default_cfg.min_time}, --quick {QUICK.min_time})")
    p.add_argument("--quick", action="store_true",
                   help="few repeats, no extra warm-up (CI smoke test)")
    p.add_argument("--json", metavar="PATH", help="write all results and machine info as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the speed ratios "
                                                  "vs PyTorch/ORT (needs matplotlib)")
    p.add_argument("--watchdog", type=float, default=WATCHDOG_S, metavar="SECONDS",
                   help="if one case (or the peak probe) runs longer, dump tracebacks and exit "
                        f"instead of hanging (default {WATCHDOG_S:g}; 0 disables)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cases = select(args.filter, ALL_CASES)
    if args.list:
        for c in cases:
            print(f"{c.name:<26} {c.func_name:<20} {c.summary()}")
        return 0
    if not cases:
        print(f"no case matches --filter {args.filter!r} (see --list)", file=sys.stderr)
        return 2
    base = QUICK if args.quick else TimingConfig()
    cfg = dataclasses.replace(
        base, repeat=max(1, args.repeat if args.repeat is not None else base.repeat),
        min_time=args.min_time if args.min_time is not None else base.min_time)
    threads = args.threads or sorted({1, machine.cores()})

    info = machine.info()
    tables = []
    t0 = time.perf_counter()
    for t in threads:
        table = run_suite(cases, t, args.dtype, cfg, watchdog=args.watchdog)
        tables.append(table)
        if len(tables) > 1:
            print()
        print(report.format_table(info, table, cfg), flush=True)
    print(f"\n(total {time.perf_counter() - t0:.1f} s)")

    if args.json:
        report.write_json(args.json, info, tables, cfg, argv=sys.argv[1:] if argv is None
                          else list(argv))
        print(f"results written to {args.json}")
    if args.plot:
        err = report.write_plot(args.plot, tables)
        print(err if err else f"plot written to {args.plot}", file=sys.stderr if err else
              sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
