"""The direct-convolution tile kernels, each forced in turn (FMACONV_CONV_TILE=i, read once per
process), against torch in float64: one subprocess per (kernel set, tile) runs
tests/conv_tile_check.py, whose sweep is built around that tile's MR x NR (see its docstring).

- the kernel set this process runs (the default, or FMACONV_ISA): every tile with the full sweep,
  the automatic tile choice (no FMACONV_CONV_TILE) over the sweeps of all its tiles, and the
  im2col GEMM path (FMACONV_CONV_ALGO=gemm) over the same cases;
- every other available kernel set: every tile and the GEMM path with a smaller sweep.

The expected outputs are computed once here (torch in float64 on one thread; tests/reference.py
without torch, which is fast enough for these small shapes) and handed to the subprocesses in an
.npz file, so the subprocesses never import torch.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest

import fmaconv

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "conv_tile_check.py")
sys.path.insert(0, HERE)

import conv_tile_check as ctc  # noqa: E402

HOOKS = ("FMACONV_CONV_TILE", "FMACONV_CONV_ALGO")


CFG = fmaconv.show_config(False)
CURRENT = CFG["isa"]  # the set this process runs: the best available, or the one FMACONV_ISA forces
ISAS = [CURRENT] + [i for i in CFG["isa_available"] if i != CURRENT]


def _env(isa, tile=None, algo=None):
    env = dict(os.environ)
    for k in HOOKS:
        env.pop(k, None)
    env["FMACONV_ISA"] = isa
    if tile is not None:
        env["FMACONV_CONV_TILE"] = str(tile)
    if algo is not None:
        env["FMACONV_CONV_ALGO"] = algo
    return env


def _subprocess(args, env, what, timeout=300):
    try:
        p = subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, text=True, env=env,
                           timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"conv_tile_check.py {what} hung (> {timeout} s)")
    if p.returncode != 0:
        started = [ln for ln in p.stderr.splitlines() if ln.startswith("running ")]
        sig = ""
        if p.returncode < 0:
            with contextlib.suppress(ValueError):
                sig = f" ({signal.Signals(-p.returncode).name})"
        pytest.fail(f"conv_tile_check.py {what} died (exit {p.returncode}{sig}) in case: "
                    f"{started[-1][8:] if started else '?'}\n{p.stderr[-1500:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _list_tiles(isa):
    r = _subprocess(["--list"], _env(isa), f"--list under FMACONV_ISA={isa}", timeout=60)
    assert r["isa"] == isa, r
    return r["tiles"]


TILES = {isa: _list_tiles(isa) for isa in ISAS}

# (id, isa, forced tile index or None, algo or None, small sweep)
RUNS = []
for _isa in ISAS:
    _small = _isa != CURRENT
    RUNS += [(f"{_isa}-tile{i}", _isa, i, None, _small) for i in range(len(TILES[_isa]))]
    if _isa == CURRENT:
        RUNS.append((f"{_isa}-auto", _isa, None, None, _small))
    RUNS.append((f"{_isa}-gemm", _isa, None, "gemm", _small))


def _cases(isa, tile, small):
    names = TILES[isa] if tile is None else [TILES[isa][tile]]
    return ctc.build_cases(names, small)


@pytest.fixture(scope="module")
def oracle_file(tmp_path_factory):
    """The expected outputs of every case of every run, computed once."""
    cases = {}
    for _, isa, tile, _, small in RUNS:
        for c in _cases(isa, tile, small):
            cases.setdefault(c["name"], c)
    path = str(tmp_path_factory.mktemp("conv_tiles") / "expected.npz")
    return ctc.compute_oracle(list(cases.values()), path)


def test_tile_lists_parse():
    for isa, names in TILES.items():
        assert names, f"FMACONV_ISA={isa}: config()['conv_tiles'] is empty"
        for n in names:
            mr, nr, cv = ctc.parse_tile(n)
            assert mr >= 1 and nr >= 1, n
            assert ctc.tile_shape(n, "float64")[0] * ctc.tile_shape(n, "float64")[1] * 2 == mr * nr, n
        # positions-in-vector tiles come first (they win ties)
        kinds = [ctc.parse_tile(n)[2] for n in names]
        assert kinds == sorted(kinds), f"FMACONV_ISA={isa}: {names}"


def test_guarded_copy_really_guards():
    """The guard-page helper puts the data's end at a page boundary (an over-read would fault:
    not provoked here, that would kill pytest)."""
    import mmap

    import numpy as np

    if not hasattr(mmap, "PROT_READ"):
        pytest.skip("no mmap protection on this platform")

    a = np.arange(37, dtype=np.float32).reshape(1, 37)
    g = ctc.guarded_copy(a)
    assert (g == a).all() and g.flags.c_contiguous
    assert (g.ctypes.data + g.nbytes) % mmap.PAGESIZE == 0


@pytest.mark.parametrize("run_id,isa,tile,algo,small", RUNS, ids=[r[0] for r in RUNS])
def test_tile_sweep(run_id, isa, tile, algo, small, oracle_file):
    what = f"FMACONV_ISA={isa}" + (f" FMACONV_CONV_TILE={tile}" if tile is not None else "") + \
        (f" FMACONV_CONV_ALGO={algo}" if algo else "") + (" --small" if small else "")
    tile_name = TILES[isa][tile] if tile is not None else "auto"
    args = ["--oracle", oracle_file] + (["--small"] if small else [])
    r = _subprocess(args, _env(isa, tile, algo), what)
    assert r["isa"] == isa, f"{what}: show_config()['isa'] == {r['isa']!r}"
    assert r["tiles"] == TILES[isa]
    expected_checks = len(_cases(isa, tile, small))
    assert r["checks"] == expected_checks > 100, (r["checks"], expected_checks)
    fails = r["failures"]
    if fails:
        lines = [f"{f['case']}: max abs err {f['max_abs_err']}: {f['error'].strip()}" for f in fails[:25]]
        more = f"\n... and {len(fails) - 25} more" if len(fails) > 25 else ""
        pytest.fail(f"{what} (tile {tile_name}): {len(fails)} of {r['checks']} cases fail:\n" +
                    "\n".join(lines) + more)
