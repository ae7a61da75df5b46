"""The optional JAX backend: the same model and event loop, integrated with JAX."""

from __future__ import annotations

import pytest

import pdmodel as pm
from pdmodel import accel
from pdmodel.regimens import prednisone


def test_without_jax_the_method_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_jax(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "jax" or name.startswith("jax."):
            raise ImportError("no jax here")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jax)
    assert not accel.available() and accel.device_kind() is None
    pop = pm.Population.sample(2, seed=1)
    with pytest.raises(pm.OptionError, match=r'needs JAX: pip install "pdmodel\[jax\]"'):
        pm.simulate(pop, prednisone(days=3), 5, method="jax")


_CROSS_CHECK = """
import numpy as np
import pdmodel as pm
from pdmodel.regimens import dexamethasone, il11, prednisone

regimens = {
    "prednisone+il11 stop": prednisone(days=10, taper_days=6)
    + il11(ug_per_kg=50, days=7, stop_if_platelets_above=60),
    "dexamethasone iv": dexamethasone(mg=40, days=4, route="iv"),
}
pop = pm.Population.sample(4, seed=12)
for label, regimen in regimens.items():
    ref = pm.simulate(pop, regimen, 21, rtol=1e-10, atol=1e-12)
    got = pm.simulate(pop, regimen, 21, method="jax", rtol=1e-10, atol=1e-12)
    for name in ("platelets", "antibody", "treg_pct", "macrophage", "clone", "conc_gc_effect"):
        scale = np.max(np.abs(ref[name]))
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-8 * scale,
                                   err_msg=label + ": " + name)
    for a, b in zip(got.courses, ref.courses, strict=True):
        np.testing.assert_array_equal(a.given, b.given)
    assert got.diagnostics.method == "jax"
print("ok")
"""


def test_jax_backend_matches_the_compiled_engine() -> None:
    """On whatever device JAX has (skipped without JAX): every observable within 1e-5 of the
    compiled engine at tight tolerances, rules and course records identical.  Run in a
    subprocess: JAX starts threads, and the process pools other tests fork must not inherit
    them (JAX warns that fork after JAX may deadlock)."""
    import subprocess
    import sys

    pytest.importorskip("jax")
    out = subprocess.run(
        [sys.executable, "-c", _CROSS_CHECK], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("ok")
