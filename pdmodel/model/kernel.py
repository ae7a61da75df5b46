"""Generate and compile a model's kernel: its right-hand side printed as numba source, joined
with the Dormand-Prince integrator (``_integrator.py``), compiled once per model.

The generated module is written to a cache folder (``PDMODEL_CACHE_DIR``, else
``$XDG_CACHE_HOME/pdmodel`` or ``~/.cache/pdmodel``) under a name derived from its source, so
numba caches its machine code beside it (``cache=True``) and later processes load it instead of
compiling.  Where no folder is writable it is compiled in the process (about 20 s per model) rather
than failing.

Two right-hand sides are printed from the one definition: ``rhs_point`` (one patient) and
``rhs_lanes`` (`LANES` patients side by side, what the integrator runs; every access a constant
offset into its workspace, so that the compiler vectorises it).  Drug effects declared with a
``gate`` (:class:`pdmodel.model.Assignment`) are exactly zero while their gate is zero; in
``rhs_point`` every expression that reads such an effect also gets a branch with the effect set
to zero and simplified (a drug a patient has not had costs nothing), while ``rhs_lanes``
computes it whole (a vector runs both sides of a branch; the value is the same).  Choices made
on parameters alone take their cheap side in a second loop of ``rhs_lanes`` when every lane
takes it (:meth:`pdmodel.model.expressions.Expression.uniform`).  Loops of the integrator
template marked ``# unroll`` are written out.

States whose rate is affine in themselves and the drug inputs (:attr:`Model.exact_states`, an
effect compartment) are not stepped: the integrator evaluates them in closed form.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .expressions import Expression
    from .spec import Model

__all__ = ["cache_dir", "compiled", "source"]

#: Floating-point licence of the compiled code: fused multiply-add only (no reassociation, and
#: NaN and infinity keep their meaning, which the step-size control relies on).  Divisions
#: follow numpy's error model (x / 0 is inf or nan, which the step control rejects and reports
#: as a failed patient, instead of raising ZeroDivisionError inside the kernel).
FASTMATH = ("contract",)

#: Exponential terms per drug input at most (:meth:`pdmodel.pk.DrugState.exponentials`: a
#: one-compartment drug with first-order absorption); the lane integrator has a slot for each.
TERMS_PER_INPUT = 2

_HEADER_END = "# --- end of header\n"
#: A loop of the template over a model constant that the generator writes out, so that the
#: loop over the lanes around it is straight-line code the compiler vectorises.
_UNROLL = re.compile(r"^( *)for (\w+) in range\((\w+)\):  # unroll\n", re.M)
_CALL = re.compile(r"rhs_point\((\w+), (\w+), (\w+), par, i, ([\w\[\]]+)\)")
#: rhs_point calls in the integrator template (rhs_many 1, exact_coefficients 3, segment 1)
_CALLS = 5
_COMPILED: dict[str, ModuleType] = {}


def _var(name: str) -> str:
    return f"v_{name}"


def _rhs_body(
    model: Model,
    indent: str,
    out: str,
    branches: bool,
    uniform: dict[str, Expression] | None = None,
) -> list[str]:
    """The right-hand side's assignments and rates as numba source lines at `indent`, reading
    the ``v_<name>`` locals; rate ``k`` is assigned to ``out.format(k)``.

    With `branches`, an expression that reads a gated effect also has a branch with the effect
    set to zero (one patient: the work is skipped); without, it is computed whole (lanes: a
    branch would run both sides), which gives the same value, the effect being exactly zero.
    With `uniform` (lanes), every choice made on parameters alone takes its cheap side
    (:meth:`Expression.uniform`), and the conditions for that are added to `uniform`.
    """
    lines: list[str] = []
    gates: dict[str, str] = {a.name: a.gate for a in model.assignments if a.gate}
    fixed = frozenset(model.kernel_parameters)

    def expression(key: str) -> Expression:
        expr = model.expression(key)
        if uniform is None:
            return expr
        expr, conditions = expr.uniform(fixed)
        uniform.update((c.text, c) for c in conditions)
        return expr

    def emit(target: str, key: str) -> None:
        expr = expression(key)
        gated = sorted(n for n in expr.names if n in gates)
        if not gated or not branches:
            lines.append(f"{indent}{target} = {expr.to_python(_var)}")
            return
        # one branch per combination of the gated effects being present (nonzero gate)
        first = True
        for present in itertools.product((True, False), repeat=len(gated)):
            zero = frozenset(g for g, p in zip(gated, present, strict=True) if not p)
            cond = " and ".join(
                f"{_var(gates[g])} {'!=' if p else '=='} 0.0"
                for g, p in zip(gated, present, strict=True)
            )
            code = (expr.with_zero(zero) if zero else expr).to_python(_var)
            if all(not p for p in present):
                lines.append(f"{indent}else:")
            else:
                lines.append(f"{indent}{'if' if first else 'elif'} {cond}:")
            lines.append(f"{indent}    {target} = {code}")
            first = False

    for a in model.assignments:
        if a.gate:
            code = expression(a.name).to_python(_var)
            if branches:
                lines.append(f"{indent}if {_var(a.gate)} != 0.0:")
                lines.append(f"{indent}    {_var(a.name)} = {code}")
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    {_var(a.name)} = 0.0")
            else:
                lines.append(f"{indent}{_var(a.name)} = {code} if {_var(a.gate)} != 0.0 else 0.0")
        else:
            emit(_var(a.name), a.name)
    for k, s in enumerate(model.states):
        emit(out.format(k), f"rate:{s.name}")
    return lines


def _rhs_source(model: Model) -> str:
    """The numba source of ``rhs_point`` (one patient) and ``rhs_lanes`` (`LANES` patients side
    by side in the lane workspace of ``segment``) for `model`: the same lines, so every patient
    gets the same arithmetic in either."""
    args = "".join(f"c_{m}, " for m in range(len(model.inputs)))
    lines = [
        "@_jit",
        f"def rhs_point(y, {args}par, i, out):  # pragma: no cover - compiled",
    ]
    for k, name in enumerate(model.state_names):
        lines.append(f"    {_var(name)} = y[{k}]")
    for m, name in enumerate(model.inputs):
        lines.append(f"    {_var(name)} = c_{m}")
    for r, name in enumerate(model.kernel_parameters):
        lines.append(f"    {_var(name)} = par[{r}, i]")
    lines += _rhs_body(model, "    ", "out[{}]", branches=True)

    # rhs_lanes: every access a constant offset into `w` (the compiler vectorises the loop
    # over the lanes); one loop where every choice made on parameters alone takes its cheap
    # side in every lane (``w[_UNI]`` set by lanes_uniform), one for any other lanes
    def loop(indent: str, body: list[str]) -> list[str]:
        inner = indent + "    "
        out = [f"{indent}for ln in range(LANES):"]
        out += [f"{inner}{_var(n)} = w[_YS + {k} * LANES + ln]" for k, n in enumerate(states)]
        out += [f"{inner}{_var(n)} = w[_C + {m} * LANES + ln]" for m, n in enumerate(inputs)]
        out += [f"{inner}{_var(n)} = w[_P + {r} * LANES + ln]" for r, n in enumerate(params)]
        out += body
        out += [f"{inner}w[_O + {k} * LANES + ln] = d_{k}" for k in range(len(states))]
        return out

    states, inputs, params = model.state_names, model.inputs, model.kernel_parameters
    conditions: dict[str, Expression] = {}
    fast = _rhs_body(model, " " * 12, "d_{}", False, conditions)
    lines += ["", "", "@_jit", "def rhs_lanes(w):  # pragma: no cover - compiled"]
    if conditions:
        lines += ["    if w[_UNI] != 0.0:", *loop(" " * 8, fast), "    else:"]
        lines += loop(" " * 8, _rhs_body(model, " " * 12, "d_{}", False))
    else:
        lines += loop(" " * 4, _rhs_body(model, " " * 8, "d_{}", False))
    lines += ["", "", "@_jit", "def lanes_uniform(w):  # pragma: no cover - compiled"]
    if conditions:
        names = sorted(set().union(*(c.names for c in conditions.values())))
        lines.append("    for ln in range(LANES):")
        for name in names:
            r = model.kernel_parameters.index(name)
            lines.append(f"        {_var(name)} = w[_P + {r} * LANES + ln]")
        test = " and ".join(c.to_python(_var) for c in conditions.values())
        lines += [f"        if not ({test}):", "            return False", "    return True"]
    else:
        lines.append("    return False")
    return "\n".join(lines) + "\n"


def source(model: Model, cache: bool = True) -> str:
    """The complete generated kernel module of `model` (Python source).

    Parameters
    ----------
    model : Model
        The model.
    cache : bool
        Whether numba caches the machine code on disk (``cache=True`` in the decorators).

    Returns
    -------
    str
        The module's text.
    """
    template = (Path(__file__).with_name("_integrator.py")).read_text(encoding="utf-8")
    body = template.split(_HEADER_END, 1)[1]  # the header is replaced by the generated one
    header = (
        f'"""Generated by pdmodel from model `{model.name}` ({model.key}); do not edit."""\n'
        "\n"
        "import math\nfrom typing import Any\n\n"
        "import numba\n"
        "import numpy as np\n"
        "from llvmlite import ir\n"
        "from numba import types\n"
        "from numba.extending import intrinsic\n\n"
        f"N_STATES = {len(model.states)}\n"
        f"N_INPUTS = {len(model.inputs)}\n"
        f"N_PAR = {len(model.kernel_parameters)}\n"
        f"EXACT = np.array({[model.state_names.index(s) for s in model.exact_states]!r}, "
        "dtype=np.int64)\n"
        f"N_EXACT = {len(model.exact_states)}\n"
        f"TERMS_PER_INPUT = {TERMS_PER_INPUT}\n\n"
        f"_jit = numba.njit(cache={cache}, nogil=True, fastmath=set({FASTMATH!r}), "
        'error_model="numpy")\n'
        f"_inline = numba.njit(cache={cache}, nogil=True, fastmath=set({FASTMATH!r}), "
        'error_model="numpy", inline="always")\n'
    )
    # the template calls rhs_point(y, c, j, par, i, out) with the inputs in row j of c; the
    # generated function takes them as scalars (measured faster than an array argument)
    n = len(model.inputs)
    body, count = _CALL.subn(
        lambda m: (
            f"rhs_point({m[1]}, "
            + "".join(f"{m[2]}[{m[3]}, {k}], " for k in range(n))
            + f"par, i, {m[4]})"
        ),
        body,
    )
    assert count == _CALLS, f"the integrator template has {count} rhs_point calls"
    n_inputs = max(len(model.inputs), 1)
    bounds = {
        "N_STATES": len(model.states),
        "N_INPUTS": len(model.inputs),
        "N_EXACT": len(model.exact_states),
        "_NT": TERMS_PER_INPUT * n_inputs,
    }
    return header + "\n\n" + _rhs_source(model) + "\n\n" + _unroll(body, bounds) + "\n"


def _unroll(text: str, bounds: dict[str, int]) -> str:
    """Write out the template's loops marked ``# unroll`` (innermost first): the body once per
    value of the loop variable, which becomes a literal."""
    while True:
        loops = list(_UNROLL.finditer(text))
        if not loops:
            return text
        for m in reversed(loops):  # (a later loop cannot contain an earlier one)
            indent, var, bound = m[1], m[2], m[3]
            lines = text[m.end() :].split("\n")
            body: list[str] = []
            for line in lines:
                if line.strip() and not line.startswith(indent + "    "):
                    break
                body.append(line)
            while body and not body[-1].strip():
                body.pop()
            if any(_UNROLL.match(b + "\n") for b in body):
                continue  # an inner loop first
            pattern = re.compile(rf"\b{var}\b")
            out = [pattern.sub(str(k), b[4:]) for k in range(bounds[bound]) for b in body] or [
                indent + "pass"
            ]
            rest = "\n".join(lines[len(body) :])
            text = text[: m.start()] + "\n".join(out) + "\n" + rest
            break


def cache_dir() -> Path | None:
    """The folder for generated kernels (created), or None when none is writable.

    Returns
    -------
    Path or None
        The folder, or None.
    """
    env = os.environ.get("PDMODEL_CACHE_DIR", "").strip()
    if env:
        candidates = [Path(env)]
    else:
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        candidates = [Path(base) / "pdmodel", Path(tempfile.gettempdir()) / "pdmodel-cache"]
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError:
            continue
        return folder
    return None


def _import_cached(model: Model, folder: Path) -> ModuleType:
    """Write the generated module into `folder` (once, atomically) and import it."""
    text = source(model, cache=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    name = f"pdmodel_kernel_{model.name}_{digest}"
    path = folder / f"{name}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # atomic: concurrent processes write the same text
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def compiled(model: Model) -> Any:
    """The compiled kernel module of `model`.

    Generated, written and imported once per process; numba loads cached machine code when
    the module was compiled before.

    Parameters
    ----------
    model : Model
        The model.

    Returns
    -------
    module
        The imported module (its ``segment``, ``rhs_point`` and ``rhs_lanes`` functions).
    """
    key = model.key
    mod = _COMPILED.get(key)
    if mod is not None:
        return mod
    folder = cache_dir()
    mod = None
    if folder is not None:
        try:
            mod = _import_cached(model, folder)
        except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
            if "cannot cache" not in str(exc):
                raise
    if mod is None:  # compile in this process, without a disk cache
        text = source(model, cache=False)
        name = f"pdmodel_kernel_{model.name}_{model.key}_nocache"
        mod = ModuleType(name)
        sys.modules[name] = mod
        exec(compile(text, f"<{name}>", "exec"), mod.__dict__)
    _COMPILED[key] = mod
    return mod
