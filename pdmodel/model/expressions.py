"""Model expressions: parsing, checking, simplification and printing.

An expression is a string in Python syntax (``"kin * (plt_base / plt) ** fb_gamma"``), parsed
once with :mod:`ast` into a tree that is then *printed* for each target: numba source for the
compiled kernel, numpy source for the reference right-hand side, an SBML Level 3 infix formula,
and LaTeX for the documentation (decision 23 in ``docs/decisions.md`` says why ``ast`` and not
sympy: the printers keep the modeller's order of operations, so the compiled code does exactly
the arithmetic that is written).

Allowed: numbers, names, ``+ - * / **``, unary minus, comparisons, ``a if cond else b`` and
the functions of :data:`FUNCTIONS`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import ndtri

from ..errors import ModelError

__all__ = ["FUNCTIONS", "Expression", "parse"]

#: Functions an expression may call: name -> (compiled kernel's name, numpy name, SBML form,
#: LaTeX).  The kernel's functions are its own vectorisable versions (``_exp``, ``_log``,
#: ``_hypot`` of ``pdmodel/model/_integrator.py``).  The SBML form and LaTeX are format strings
#: over the arguments ``{0}``, ``{1}``.
FUNCTIONS: dict[str, tuple[str, str, str, str]] = {
    "exp": ("_exp", "np.exp", "exp({0})", r"e^{{{0}}}"),
    "log": ("_log", "np.log", "ln({0})", r"\ln\left({0}\right)"),
    "sqrt": ("math.sqrt", "np.sqrt", "sqrt({0})", r"\sqrt{{{0}}}"),
    "hypot": ("_hypot", "np.hypot", "sqrt({0}^2 + {1}^2)", r"\sqrt{{{0}^2 + {1}^2}}"),
    "ndtri": ("", "ndtri", "", r"\Phi^{{-1}}\left({0}\right)"),  # per-patient constants only
}
_ARITY = {"hypot": 2}

_BINOPS: dict[type[ast.operator], tuple[str, int]] = {
    ast.Add: ("+", 1),
    ast.Sub: ("-", 1),
    ast.Mult: ("*", 2),
    ast.Div: ("/", 2),
    ast.Pow: ("**", 4),
}
_CMPOPS: dict[type[ast.cmpop], tuple[str, str, str]] = {
    ast.Eq: ("==", "eq", "="),
    ast.NotEq: ("!=", "neq", r"\neq"),
    ast.Lt: ("<", "lt", "<"),
    ast.LtE: ("<=", "leq", r"\leq"),
    ast.Gt: (">", "gt", ">"),
    ast.GtE: (">=", "geq", r"\geq"),
}


def parse(text: str, where: str) -> Expression:
    """Parse and check an expression.

    Parameters
    ----------
    text : str
        The expression, Python syntax.
    where : str
        What it defines (for error messages), e.g. ``"rate of `plt`"``.

    Returns
    -------
    Expression
        The parsed expression.
    """
    if not isinstance(text, str) or not text.strip():
        raise ModelError(f"{where}: an expression must be a non-empty string, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ModelError(f"{where}: cannot parse {text!r}: {exc.msg}") from None
    _check(tree, where, text)
    return Expression(text.strip(), tree)


def _check(node: ast.AST, where: str, text: str) -> None:
    def bad(what: str) -> ModelError:
        return ModelError(f"{where}: {what} is not allowed in a model expression ({text!r})")

    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise bad(f"the constant {node.value!r}")
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise bad(f"the operator {type(node.op).__name__}")
        _check(node.left, where, text)
        _check(node.right, where, text)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub):
            raise bad(f"the unary operator {type(node.op).__name__}")
        _check(node.operand, where, text)
    elif isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS:
            raise bad("a chained or unknown comparison")
        _check(node.left, where, text)
        _check(node.comparators[0], where, text)
    elif isinstance(node, ast.IfExp):
        if not isinstance(node.test, ast.Compare):
            raise bad("a condition that is not a comparison")
        for part in (node.test, node.body, node.orelse):
            _check(part, where, text)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else "?"
            raise ModelError(
                f"{where}: unknown function `{name}` in {text!r}; allowed: {', '.join(FUNCTIONS)}"
            )
        if node.keywords or len(node.args) != _ARITY.get(node.func.id, 1):
            raise bad(f"this call of `{node.func.id}`")
        for arg in node.args:
            _check(arg, where, text)
    else:
        raise bad(type(node).__name__)


@dataclass(frozen=True, eq=False)
class Expression:
    """A parsed, checked model expression (see :func:`parse`).

    Parameters
    ----------
    text : str
        The source text.
    tree : ast.expr
        Its syntax tree.
    """

    text: str
    tree: ast.expr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and ast.dump(self.tree) == ast.dump(other.tree)

    def __hash__(self) -> int:
        return hash(ast.dump(self.tree))

    def __reduce__(self) -> tuple[Any, ...]:
        # the text is the expression (the tree and the compiled numpy code are rebuilt)
        return (_from_text, (self.text,))

    @cached_property
    def names(self) -> frozenset[str]:
        """Every symbol the expression reads (function names excluded)."""
        called = {
            id(n.func) for n in ast.walk(self.tree) if isinstance(n, ast.Call)
        }  # the Name nodes of function calls
        return frozenset(
            n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name) and id(n) not in called
        )

    def with_zero(self, names: frozenset[str]) -> Expression:
        """The expression with `names` set to exactly 0 and simplified.

        ``0 * x``, ``x * 0`` and ``0 / x`` become 0, ``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``
        and ``x / 1`` become ``x``: the arithmetic the compiled kernel skips when a drug is
        absent (its effect is then exactly zero).

        Parameters
        ----------
        names : frozenset of str
            Names set to 0.

        Returns
        -------
        Expression
            A new expression; this one is unchanged.
        """
        tree = _zero(self.tree, names)
        return Expression(ast.unparse(tree), tree)

    def uniform(self, fixed: frozenset[str]) -> tuple[Expression, list[Expression]]:
        """The expression with its choices on `fixed` names alone made one way.

        Also returns the conditions under which it equals the original.

        A branch ``a if c else b`` whose test reads only `fixed` names becomes ``a`` (condition
        ``c``); a power ``x ** p`` whose exponent reads only `fixed` names becomes ``x * x``
        (condition ``p == 2``).  The compiled kernel runs lanes of patients whose conditions
        all hold with these (a branch in a vector computes both sides).

        Parameters
        ----------
        fixed : frozenset of str
            Names that are constant for a patient (the kernel's per-patient parameters).

        Returns
        -------
        Expression
            The expression with those choices made.
        list of Expression
            The conditions (boolean expressions of `fixed` names) under which it equals this
            one, in the order met.
        """
        conditions: list[ast.expr] = []
        tree = _uniform(self.tree, fixed, conditions)
        conds = [Expression(ast.unparse(c), c) for c in conditions]
        return Expression(ast.unparse(tree), tree), conds

    def degree(
        self, variables: frozenset[str], resolve: Callable[[str], Expression | None]
    ) -> int | None:
        """Polynomial degree in `variables` when it is at most 1, else None.

        0: the expression does not read `variables`; 1: affine in them (``a + sum_v w_v v``
        with `a`, `w_v` free of them); None: anything else (a product or power of them, a
        function of them, a branch on them).  A name for which ``resolve(name)`` returns an
        expression (an assignment) is analysed through that expression.

        Parameters
        ----------
        variables : frozenset of str
            The names of interest.
        resolve : callable
            Expression of a name, or None.

        Returns
        -------
        int or None
            0, 1 or None (see above).
        """
        return _degree(self.tree, variables, resolve)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Value with numpy (arrays broadcast; ``a if c else b`` is ``np.where``).

        Parameters
        ----------
        values : mapping
            A value (number or array) for every name the expression reads.

        Returns
        -------
        float or ndarray
            The value; an array when any input is one.
        """
        missing = sorted(self.names - set(values))
        if missing:
            raise ModelError(f"cannot evaluate {self.text!r}: no value for {missing}")
        return eval(self._numpy_code, {"np": np, "ndtri": ndtri}, dict(values))

    @cached_property
    def _numpy_code(self) -> Any:
        return compile(self.to_python(str, "numpy"), "<model expression>", "eval")

    # ------------------------------------------------------------------ printers
    def to_python(self, rename: Callable[[str], str], backend: str = "numba") -> str:
        """Python source; names mapped by `rename`; `backend` ``"numba"`` or ``"numpy"``.

        Parameters
        ----------
        rename : callable
            Python name of each name.
        backend : {"numba", "numpy"}
            Target.

        Returns
        -------
        str
            A Python expression.
        """
        return _py(self.tree, rename, backend)

    def to_sbml(self, rename: Callable[[str], str] = str) -> str:
        """SBML Level 3 infix formula (numbers carry the unit ``dimensionless``).

        Parameters
        ----------
        rename : callable
            SBML id of each name.

        Returns
        -------
        str
            An SBML formula.
        """
        return _sbml(self.tree, rename)

    def to_latex(self, symbols: Mapping[str, str]) -> str:
        """LaTeX; each name typeset as ``symbols[name]`` (default: ``\\mathrm{name}``).

        Parameters
        ----------
        symbols : mapping of str to str
            LaTeX symbol by name.

        Returns
        -------
        str
            A LaTeX math expression.
        """
        return _latex(self.tree, symbols, 0)


def _from_text(text: str) -> Expression:
    return Expression(text, ast.parse(text, mode="eval").body)


def _num(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    return None


def _degree(
    node: ast.AST, xs: frozenset[str], resolve: Callable[[str], Expression | None]
) -> int | None:
    if isinstance(node, ast.Constant):
        return 0
    if isinstance(node, ast.Name):
        if node.id in xs:
            return 1
        sub = resolve(node.id)
        return 0 if sub is None else _degree(sub.tree, xs, resolve)
    if isinstance(node, ast.UnaryOp):
        return _degree(node.operand, xs, resolve)
    if isinstance(node, ast.BinOp):
        a, b = _degree(node.left, xs, resolve), _degree(node.right, xs, resolve)
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.Add | ast.Sub):
            return max(a, b)
        if isinstance(node.op, ast.Mult):
            return a + b if a + b <= 1 else None
        if isinstance(node.op, ast.Div):
            return a if b == 0 else None
        return 0 if a == b == 0 else None  # a power
    # a call, comparison or branch: constant only when every part is
    parts = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
    if isinstance(node, ast.Call):
        parts = list(node.args)
    degrees = [_degree(c, xs, resolve) for c in parts]
    return 0 if all(d == 0 for d in degrees) else None


def _zero(node: ast.expr, names: frozenset[str]) -> ast.expr:
    zero = ast.Constant(0.0)
    if isinstance(node, ast.Name):
        return zero if node.id in names else node
    if isinstance(node, ast.BinOp):
        left, right = _zero(node.left, names), _zero(node.right, names)
        a, b = _num(left), _num(right)
        op = node.op
        if isinstance(op, ast.Mult):
            if a == 0.0 or b == 0.0:
                return zero
            if a == 1.0:
                return right
            if b == 1.0:
                return left
        elif isinstance(op, ast.Div):
            if a == 0.0:
                return zero
            if b == 1.0:
                return left
        elif isinstance(op, ast.Add):
            if a == 0.0:
                return right
            if b == 0.0:
                return left
        elif isinstance(op, ast.Sub):
            if b == 0.0:
                return left
            if a == 0.0:
                return _zero(ast.UnaryOp(ast.USub(), right), frozenset())
        return ast.BinOp(left, op, right)
    if isinstance(node, ast.UnaryOp):
        operand = _zero(node.operand, names)
        return zero if _num(operand) == 0.0 else ast.UnaryOp(node.op, operand)
    if isinstance(node, ast.Compare):
        return ast.Compare(_zero(node.left, names), node.ops, [_zero(node.comparators[0], names)])
    if isinstance(node, ast.IfExp):
        return ast.IfExp(
            _zero(node.test, names), _zero(node.body, names), _zero(node.orelse, names)
        )
    if isinstance(node, ast.Call):
        return ast.Call(node.func, [_zero(a, names) for a in node.args], [])
    return node


def _reads_only(node: ast.AST, fixed: frozenset[str]) -> bool:
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return all(
        n.id in fixed for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in called
    )


def _uniform(node: ast.expr, fixed: frozenset[str], conditions: list[ast.expr]) -> ast.expr:
    if isinstance(node, ast.IfExp) and _reads_only(node.test, fixed):
        conditions.append(node.test)
        return _uniform(node.body, fixed, conditions)
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Pow)
        and _num(node.right) is None
        and _reads_only(node.right, fixed)
    ):
        conditions.append(ast.Compare(node.right, [ast.Eq()], [ast.Constant(2.0)]))
        base = _uniform(node.left, fixed, conditions)
        return ast.BinOp(base, ast.Mult(), base)
    if isinstance(node, ast.BinOp):
        return ast.BinOp(
            _uniform(node.left, fixed, conditions), node.op, _uniform(node.right, fixed, conditions)
        )
    if isinstance(node, ast.UnaryOp):
        return ast.UnaryOp(node.op, _uniform(node.operand, fixed, conditions))
    if isinstance(node, ast.Compare):
        return ast.Compare(
            _uniform(node.left, fixed, conditions),
            node.ops,
            [_uniform(c, fixed, conditions) for c in node.comparators],
        )
    if isinstance(node, ast.IfExp):
        return ast.IfExp(
            _uniform(node.test, fixed, conditions),
            _uniform(node.body, fixed, conditions),
            _uniform(node.orelse, fixed, conditions),
        )
    if isinstance(node, ast.Call):
        return ast.Call(node.func, [_uniform(a, fixed, conditions) for a in node.args], [])
    return node


def _py(node: ast.AST, rename: Callable[[str], str], backend: str) -> str:
    if isinstance(node, ast.Constant):
        return repr(_num(node))
    if isinstance(node, ast.Name):
        return rename(node.id)
    if isinstance(node, ast.BinOp):
        sym = _BINOPS[type(node.op)][0]
        left, right = _py(node.left, rename, backend), _py(node.right, rename, backend)
        if backend == "numba" and sym == "**":
            # the kernel's `_pow`: vectorisable, and it squares when the exponent is 2 (a Hill
            # exponent often is)
            return f"_pow({left}, {right})"
        return f"({left} {sym} {right})"
    if isinstance(node, ast.UnaryOp):
        return f"(-{_py(node.operand, rename, backend)})"
    if isinstance(node, ast.Compare):
        sym = _CMPOPS[type(node.ops[0])][0]
        left = _py(node.left, rename, backend)
        return f"({left} {sym} {_py(node.comparators[0], rename, backend)})"
    if isinstance(node, ast.IfExp):
        test, body, orelse = (_py(n, rename, backend) for n in (node.test, node.body, node.orelse))
        if backend == "numpy":
            return f"np.where({test}, {body}, {orelse})"
        return f"({body} if {test} else {orelse})"
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        numba_name, numpy_name, _, _ = FUNCTIONS[node.func.id]
        fn = numpy_name if backend == "numpy" else numba_name
        if not fn:
            raise ModelError(f"`{node.func.id}` is only available in per-patient constants")
        return f"{fn}({', '.join(_py(a, rename, backend) for a in node.args)})"
    raise AssertionError(node)  # pragma: no cover - excluded by _check


def _sbml(node: ast.AST, rename: Callable[[str], str]) -> str:
    if isinstance(node, ast.Constant):
        return f"({_num(node)!r} dimensionless)"
    if isinstance(node, ast.Name):
        return rename(node.id)
    if isinstance(node, ast.BinOp):
        sym = "^" if isinstance(node.op, ast.Pow) else _BINOPS[type(node.op)][0]
        return f"({_sbml(node.left, rename)} {sym} {_sbml(node.right, rename)})"
    if isinstance(node, ast.UnaryOp):
        return f"(-{_sbml(node.operand, rename)})"
    if isinstance(node, ast.Compare):
        fn = _CMPOPS[type(node.ops[0])][1]
        return f"{fn}({_sbml(node.left, rename)}, {_sbml(node.comparators[0], rename)})"
    if isinstance(node, ast.IfExp):
        return (
            f"piecewise({_sbml(node.body, rename)}, {_sbml(node.test, rename)}, "
            f"{_sbml(node.orelse, rename)})"
        )
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        form = FUNCTIONS[node.func.id][2]
        if not form:
            raise ModelError(f"`{node.func.id}` has no SBML form (per-patient constants only)")
        return "(" + form.format(*(_sbml(a, rename) for a in node.args)) + ")"
    raise AssertionError(node)  # pragma: no cover


def _latex(node: ast.AST, symbols: Mapping[str, str], outer: int) -> str:
    """LaTeX with parentheses only where precedence needs them (`outer`: parent's)."""
    if isinstance(node, ast.Constant):
        return f"{_num(node):g}"
    if isinstance(node, ast.Name):
        return symbols.get(node.id, r"\mathrm{" + node.id.replace("_", r"\_") + "}")
    if isinstance(node, ast.BinOp):
        sym, prec = _BINOPS[type(node.op)]
        if isinstance(node.op, ast.Div):
            text = (
                r"\frac{" + _latex(node.left, symbols, 0) + "}{"
                + _latex(node.right, symbols, 0) + "}"
            )  # fmt: skip
            return text
        if isinstance(node.op, ast.Pow):
            base = _latex(node.left, symbols, 0)
            if not isinstance(node.left, ast.Name | ast.Constant):
                base = f"\\left({base}\\right)"
            return base + "^{" + _latex(node.right, symbols, 0) + "}"
        left = _latex(node.left, symbols, prec)
        right = _latex(node.right, symbols, prec + (1 if sym == "-" else 0))
        op = r" \, " if sym == "*" else f" {sym} "
        text = left + op + right
        return f"\\left({text}\\right)" if prec < outer else text
    if isinstance(node, ast.UnaryOp):
        text = "-" + _latex(node.operand, symbols, 3)
        return f"\\left({text}\\right)" if outer >= 2 else text
    if isinstance(node, ast.Compare):
        sym = _CMPOPS[type(node.ops[0])][2]
        return f"{_latex(node.left, symbols, 0)} {sym} {_latex(node.comparators[0], symbols, 0)}"
    if isinstance(node, ast.IfExp):
        return (
            r"\begin{cases} " + _latex(node.body, symbols, 0) + r" & \text{if } "
            + _latex(node.test, symbols, 0) + r" \\ " + _latex(node.orelse, symbols, 0)
            + r" & \text{otherwise} \end{cases}"
        )  # fmt: skip
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        form = FUNCTIONS[node.func.id][3]
        return form.format(*(_latex(a, symbols, 0) for a in node.args))
    raise AssertionError(node)  # pragma: no cover
