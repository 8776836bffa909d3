"""Row filters (``dnas rankcorr --where``) parsed and evaluated without ``eval``.

A filter is a Python expression over the columns of a frame. It is parsed with ``ast`` and
checked node by node against a small grammar *before* anything runs: column names (plain, or in
backticks for labels such as ```nb201:cifar10@200/test-accuracy```), numbers, strings, True/False,
lists/tuples of those, comparisons (chained too, ``in``/``not in`` a list), ``and``/``or``/
``not``, ``&``/``|``/``~``, arithmetic (``+ - * / // % **``, unary ``-``/``+``) and a short list
of column methods with literal arguments (``y.quantile(0.9)``, ``y.rank(pct=True)``). Everything
else (attributes, subscripts, calls of anything but those methods, lambdas, comprehensions,
f-strings, dunder names, names that are not columns) is refused with a one-line
:class:`FilterError` naming the offending part. The checked tree is then evaluated by a small
recursive evaluator over pandas Series: the string never reaches ``eval``, ``DataFrame.eval`` or
``DataFrame.query``, whose Python engine runs arbitrary code (``y.__class__.__init__.__globals__``
reaches ``os``). Size limits (length, depth, node count, exponent) keep a filter from exhausting
memory or time.
"""
from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from suite.errors import DnasError

METHODS = ("abs", "between", "isin", "isna", "max", "mean", "median", "min", "notna", "quantile", "rank", "std")
"""The column methods a filter may call (on a column or a column-valued sub-expression)."""
MAX_LENGTH = 2000
"""Longest filter text, in characters."""
MAX_DEPTH = 40
"""Deepest nesting of the parsed expression."""
MAX_NODES = 400
"""Most nodes in the parsed expression."""
MAX_EXPONENT = 1000
"""Largest absolute scalar exponent of ``**``."""

ALLOWED = ("allowed: column names (in backticks when not identifiers), numbers, strings, True/False, lists of "
           "those, comparisons (== != < <= > >= in, chained), and/or/not, & | ~, + - * / // % **, and "
           f"COLUMN.METHOD(literal arguments) for METHOD in {', '.join(METHODS)}")

_BIN: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv), ast.FloorDiv: ("//", operator.floordiv), ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow), ast.BitAnd: ("&", operator.and_), ast.BitOr: ("|", operator.or_),
}
_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_UNARY = (ast.USub, ast.UAdd, ast.Not, ast.Invert)
_SCALARS = (bool, int, float, str)
# a string literal (either quote, escapes allowed) or a backtick-quoted column name, in source order
_QUOTED = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`[^`]*`?""")


class FilterError(DnasError, ValueError):
    """A filter that is not allowed or cannot be evaluated; the message is one line."""


@dataclass(frozen=True)
class Filter:
    """A checked filter: its text, its tree, and which placeholder names stand for backticked columns."""

    text: str
    tree: ast.Expression
    aliases: Mapping[str, str]

    def evaluate(self, frame: pd.DataFrame) -> Any:
        """The filter's value on ``frame`` (a boolean Series for a condition); :class:`FilterError` when it
        cannot be computed (a type mismatch, a division of scalars by zero...)."""
        try:
            return _Evaluator(frame, self).visit(self.tree.body)
        except FilterError:
            raise
        except Exception as exc:  # pandas and numpy raise many kinds for a wrong type or value
            detail = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise FilterError(f"cannot evaluate: {detail}") from None


def parse_filter(text: str, columns: Iterable[Any]) -> Filter:
    """Parse and check ``text`` against the grammar above; ``columns`` are the names it may use.

    Nothing of ``text`` runs here; the returned :class:`Filter` evaluates only what passed the check.
    """
    names = [str(c) for c in columns]
    if not isinstance(text, str) or not text.strip():
        raise FilterError(f"give a condition on the columns, e.g. 'y > 90'; {ALLOWED}")
    if len(text) > MAX_LENGTH:
        raise FilterError(f"the filter is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    source, aliases = _replace_backticks(text, names)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        near = source.strip()[max((exc.offset or 1) - 1, 0):][:30] if exc.lineno == 1 else ""
        where = f" near {' '.join(near.split())!r}" if near.strip() else ""
        raise FilterError(f"not a valid expression ({exc.msg}){where}; {ALLOWED}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, nesting the parser refuses
        raise FilterError(f"not a valid expression ({type(exc).__name__}); {ALLOWED}") from None
    _check_size(tree)
    _Checker(source.strip(), names, aliases).visit(tree.body)
    return Filter(text, tree, dict(aliases))


def _replace_backticks(text: str, columns: list[str]) -> tuple[str, dict[str, str]]:
    """``text`` with each ```column``` replaced by a fresh identifier, and the identifier -> column map."""
    prefix = "_col"
    while prefix in text or any(c.startswith(prefix) for c in columns):
        prefix += "_"
    aliases: dict[str, str] = {}
    pieces: list[str] = []
    last = 0
    for match in _QUOTED.finditer(text):
        token = match.group()
        if not token.startswith("`"):
            continue
        if len(token) < 2 or not token.endswith("`"):
            raise FilterError(f"the backtick at character {match.start() + 1} is never closed; write `COLUMN`")
        name = token[1:-1]
        if name not in columns:
            raise FilterError(f"{' '.join(token.split())} is not a column; columns: {_columns(columns)}")
        alias = next((a for a, c in aliases.items() if c == name), f"{prefix}{len(aliases)}")
        aliases[alias] = name
        pieces += [text[last:match.start()], f" {alias} "]
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces), aliases


def _check_size(tree: ast.AST) -> None:
    """Refuse trees deeper than MAX_DEPTH or larger than MAX_NODES (iteratively: no recursion limit)."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise FilterError(f"the expression nests deeper than {MAX_DEPTH} levels; simplify it")
        if count > MAX_NODES:
            raise FilterError(f"the expression has more than {MAX_NODES} parts; simplify it")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _columns(columns: Iterable[str]) -> str:
    cols = list(columns)
    return ", ".join(f"`{c}`" if not c.isidentifier() else c for c in cols[:30]) + (" ..." if len(cols) > 30 else "")


def _dunder(name: str) -> bool:
    return name.startswith("__") or name.endswith("__")


class _Checker:
    """Walks the tree in source order and raises FilterError at the first node outside the grammar."""

    def __init__(self, source: str, columns: list[str], aliases: Mapping[str, str]) -> None:
        self.source, self.columns, self.known, self.aliases = source, columns, set(columns), aliases

    def part(self, node: ast.AST) -> str:
        """The source text of ``node``, backticks restored, shortened for a one-line message."""
        seg = ast.get_source_segment(self.source, node) or type(node).__name__
        for alias, col in self.aliases.items():
            seg = re.sub(rf" ?\b{re.escape(alias)}\b ?", f"`{col}`", seg)
        seg = " ".join(seg.split())
        return repr(seg if len(seg) <= 60 else seg[:57] + "...")

    def refuse(self, node: ast.AST, what: str) -> FilterError:
        return FilterError(f"{self.part(node)}: {what} is not allowed; {ALLOWED}")

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return
            if _dunder(node.id):
                raise self.refuse(node, f"the name {node.id!r}")
            if node.id not in self.known:
                raise FilterError(f"{node.id!r} is not a column; columns: {_columns(self.columns)}")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, _SCALARS):
                raise self.refuse(node, f"a {type(node.value).__name__} literal")
        elif isinstance(node, (ast.List, ast.Tuple)):
            for elt in node.elts:
                self.scalar(elt)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BIN:
                raise self.refuse(node, f"the operator {_op_text(node.op)!r}")
            self.visit(node.left)
            self.visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _UNARY):
                raise self.refuse(node, "this unary operator")
            self.visit(node.operand)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.visit(value)
        elif isinstance(node, ast.Compare):
            self.visit(node.left)
            for op, right in zip(node.ops, node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)):
                    if not isinstance(right, (ast.List, ast.Tuple)):
                        raise self.refuse(right, "'in' with anything but a list of literals")
                elif type(op) not in _CMP:
                    raise self.refuse(node, f"the comparison {_op_text(op)!r}")
                self.visit(right)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Attribute):
            self.visit(node.value)  # the leftmost offence is named first: y.__class__, not the whole chain
            raise self.refuse(node, f"the attribute {node.attr!r} (only COLUMN.METHOD(...) calls)")
        elif isinstance(node, ast.Subscript):
            self.visit(node.value)
            raise self.refuse(node, _KINDS[ast.Subscript])
        else:
            raise self.refuse(node, _KINDS.get(type(node), f"a {type(node).__name__} expression"))

    def call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            raise self.refuse(node, f"calling {func.id!r} (only COLUMN.METHOD(...) calls)")
        if not isinstance(func, ast.Attribute):
            self.visit(func)
            raise self.refuse(node, "this call (only COLUMN.METHOD(...) calls)")
        self.visit(func.value)
        if func.attr not in METHODS:
            raise self.refuse(func, f"the method {func.attr!r}")
        for arg in node.args:
            self.literal(arg)
        for kw in node.keywords:
            if kw.arg is None:
                raise self.refuse(kw.value, "a ** argument")
            if kw.arg.startswith("_"):
                raise self.refuse(node, f"the keyword {kw.arg!r}")
            self.literal(kw.value)

    def literal(self, node: ast.AST) -> None:
        """An argument or list element: a scalar literal, a negated number, or a list/tuple of scalars."""
        if isinstance(node, (ast.List, ast.Tuple)):
            for elt in node.elts:
                self.scalar(elt)
        else:
            self.scalar(node)

    def scalar(self, node: ast.AST) -> None:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = node.operand
            if isinstance(inner, ast.Constant) and isinstance(inner.value, (int, float)) \
                    and not isinstance(inner.value, bool):
                return
        elif isinstance(node, ast.Constant) and isinstance(node.value, _SCALARS):
            return
        if isinstance(node, ast.Starred):
            raise self.refuse(node, _KINDS[ast.Starred])
        raise FilterError(f"{self.part(node)}: method arguments and list elements must be literal numbers, strings "
                          f"or True/False (or lists of them); {ALLOWED}")


_KINDS: dict[type, str] = {
    ast.Subscript: "a subscript ([...])", ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string", ast.NamedExpr: "an assignment (:=)",
    ast.IfExp: "a conditional expression (x if c else y)", ast.Dict: "a dict", ast.Set: "a set",
    ast.Starred: "a * argument", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice",
}


def _op_text(op: ast.AST) -> str:
    return {ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitXor: "^", ast.Is: "is",
            ast.IsNot: "is not"}.get(type(op), type(op).__name__)


class _Evaluator:
    """Evaluates a checked tree over ``frame``'s columns; only the node kinds _Checker lets through."""

    def __init__(self, frame: pd.DataFrame, flt: Filter) -> None:
        self.frame, self.aliases = frame, flt.aliases

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return self.frame[self.aliases.get(node.id, node.id)]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.visit(elt) for elt in node.elts]
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node.op, self.visit(node.operand))
        if isinstance(node, ast.BoolOp):
            values = [self.visit(v) for v in node.values]
            return _logical(isinstance(node.op, ast.And), values)
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            parts = []
            for op, right_node in zip(node.ops, node.comparators):
                right = self.visit(right_node)
                parts.append(_compare(op, left, right))
                left = right
            return parts[0] if len(parts) == 1 else _logical(True, parts)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Attribute) and node.func.attr in METHODS  # _Checker's promise
            target = self.visit(node.func.value)
            if not isinstance(target, pd.Series):
                raise FilterError(f".{node.func.attr}() needs a column, got a {_kind(target)}")
            args = [self.visit(a) for a in node.args]
            kwargs = {kw.arg: self.visit(kw.value) for kw in node.keywords if kw.arg}
            return getattr(target, node.func.attr)(*args, **kwargs)
        raise FilterError(f"{type(node).__name__} is not allowed")  # unreachable after _Checker

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        symbol, fn = _BIN[type(op)]
        if symbol in "&|":
            return fn(left, right)
        for value in (left, right):
            if not _numeric(value):
                raise FilterError(f"'{symbol}' needs numbers or numeric columns, got a {_kind(value)}")
        if symbol == "**":
            if _scalar(right) and abs(right) > MAX_EXPONENT:
                raise FilterError(f"exponent {right} is too large; at most {MAX_EXPONENT} in absolute value")
            if _scalar(left) and _scalar(right):
                return float(left) ** float(right)  # floats: no unbounded integer arithmetic
        return fn(left, right)

    def unary(self, op: ast.unaryop, value: Any) -> Any:
        if isinstance(op, (ast.Not, ast.Invert)):
            if isinstance(value, pd.Series):
                if value.dtype != bool:
                    raise FilterError(f"'not' and '~' need a true/false condition, got a {_kind(value)}")
                return ~value
            if isinstance(op, ast.Not):
                return not value
        if not _numeric(value):
            raise FilterError(f"unary minus or plus needs a number or numeric column, got a {_kind(value)}")
        return -value if isinstance(op, ast.USub) else +value if isinstance(op, ast.UAdd) else ~value


def _compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    if isinstance(op, (ast.In, ast.NotIn)):
        found = left.isin(right) if isinstance(left, pd.Series) else left in right
        return ~found if isinstance(op, ast.NotIn) and isinstance(found, pd.Series) else \
            (not found if isinstance(op, ast.NotIn) else found)
    return _CMP[type(op)](left, right)


def _logical(conjunction: bool, values: list[Any]) -> Any:
    """``and``/``or`` as pandas' own ``eval`` reads them: elementwise when any operand is a column."""
    if any(isinstance(v, pd.Series) for v in values):
        out = values[0]
        for v in values[1:]:
            out = (out & v) if conjunction else (out | v)
        return out
    return all(bool(v) for v in values) if conjunction else any(bool(v) for v in values)


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _numeric(value: Any) -> bool:
    if isinstance(value, pd.Series):
        return pd.api.types.is_numeric_dtype(value.dtype)
    return isinstance(value, (int, float, np.number, np.bool_))


def _kind(value: Any) -> str:
    if isinstance(value, pd.Series):
        return f"column of {value.dtype}" if value.dtype != object else "column of text"
    return type(value).__name__


__all__ = ["ALLOWED", "Filter", "FilterError", "METHODS", "parse_filter"]
