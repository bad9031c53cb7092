"""Every available kernel set (FMACONV_ISA=scalar|avx2|avx512|neon, read at import) gives right
results: one subprocess per ISA runs tests/isa_check.py against the reference."""

import json
import os
import subprocess
import sys

import pytest

import fmaconv

HERE = os.path.dirname(os.path.abspath(__file__))

def _available():
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return list(fmaconv.show_config()["isa_available"])


ISAS = _available()


def _run(isa):
    env = dict(os.environ)
    if isa is None:
        env.pop("FMACONV_ISA", None)
    else:
        env["FMACONV_ISA"] = isa
    try:
        p = subprocess.run([sys.executable, os.path.join(HERE, "isa_check.py")], capture_output=True, text=True,
                           env=env, timeout=120, cwd=HERE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"isa_check.py with FMACONV_ISA={isa} hung (> 120 s; it normally takes < 2 s)")
    assert p.returncode == 0, f"isa_check.py with FMACONV_ISA={isa} died (exit {p.returncode}):\n{p.stderr[-2000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_scalar_is_always_available():
    assert "scalar" in ISAS


@pytest.mark.parametrize("isa", ISAS)
def test_forced_isa_is_reported_and_correct(isa):
    r = _run(isa)
    assert r["isa"] == isa, f"FMACONV_ISA={isa} but show_config()['isa'] == {r['isa']!r}"
    assert r["checks"] > 40
    assert not r["failures"], f"FMACONV_ISA={isa}: {len(r['failures'])} failures:\n" + "\n".join(r["failures"])


def test_default_isa_is_the_best_available():
    r = _run(None)
    order = ["scalar", "neon", "avx2", "avx512"]
    best = max(r["isa_available"], key=order.index)
    assert r["isa"] == best
    assert not r["failures"], "\n".join(r["failures"])
