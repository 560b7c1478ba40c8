r"""`{{ … }}` templates and conditions in flow block parameters, evaluated with CEL.

A string parameter is literal text with `{{ cel }}` segments. A string that is exactly one
segment (whitespace around it allowed) becomes the expression's native value, so
`{{ steps.info.output.tags }}` passes a list; in any other string each value is rendered as text:
strings as they are, null as nothing, everything else as compact JSON. A segment ends at the first
`}}` outside a CEL string literal (write `{"a": {"b": 1} }` with a space when a map ends there).
`\{{` is a literal `{{`; no other backslash is special, so a literal backslash right before an
expression is written `{{ "\\" }}`. Conditions are bare CEL expressions that must give a bool.

Expressions see six names: `trigger`, `steps` (block name -> output), `item` and `index` (the
loop's current item, null outside loops), `vars` and `env`; absent ones are empty maps or null.
Each name an expression reads is first copied into plain values (dict, list, str, int, float,
bool, None; datetimes become RFC 3339 strings) and anything else is refused, so no expression can
reach a host object's attributes or methods. Results are plain values too: timestamps as RFC 3339,
durations as CEL text ("1.5s"). Every failure, the library's included, is an ExpressionError
naming the parameter.

Limits. The library (common-expression-language 0.10 on cel-rust 0.14.5) has no cost budget, and
evaluation holds the GIL, so: expressions up to 4096 characters, 64 segments per string, results
and rendered text up to 1 MiB, context nesting up to 64 levels. Comprehensions nest two deep at
most and only `all`/`exists`/`exists_one` may sit inside another, because the cost multiplies:
`map` and `filter` are O(n^2) here (40 ms for 1,000 items), a 1,000 x 1,000 `map` in `map` took
90 s, and ten nested `map`s over ten items would never end. Within these rules the worst
expressions measured take seconds (`exists` in `exists` over two 1,000-item literals 0.5 s; list
equality inside that over 500 items 20 s), and the cost still grows with the data (a `map` over
4,000 items 0.7 s; `x + x + … + x` repeats a list hundreds of times), so run blocks in a worker
process under a wall-clock budget.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cel

MAX_EXPRESSION = 4096
MAX_SEGMENTS = 64
MAX_RENDERED = 1 << 20
MAX_DEPTH = 64
NAMES = {"trigger": {}, "steps": {}, "item": None, "index": None, "vars": {}, "env": {}}

_INT64 = range(-(1 << 63), 1 << 63)
_OPEN = re.compile(r"\\?\{\{")
# CEL string literals (spec: [bB]? [rR]? then one of four quotings); raw ones have no escapes.
_RAW = r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"[^"\n]*"|\'[^\'\n]*\''
_COOKED = r'"""(?:\\[\s\S]|[^\\])*?"""|\'\'\'(?:\\[\s\S]|[^\\])*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
_STRING = rf"[bB]?[rR](?:{_RAW})|[bB]?(?:{_COOKED})"
_STRING_OR_CLOSE = re.compile(rf"{_STRING}|\}}\}}")
_STRING_OR_COMMENT = re.compile(rf"//[^\n]*|{_STRING}")
_MACRO_OR_PAREN = re.compile(r"\.\s*(map|filter|all|exists|exists_one|existsOne)\s*\(|[()]")
_PREDICATES = {"all", "exists", "exists_one", "existsOne"}
_SYNTAX = re.compile(r"<input>:(\d+):(\d+): (?:Syntax error: )?(.*)")


class ExpressionError(Exception):
    """A parameter's expression could not be parsed or evaluated; fails the block."""

    def __init__(self, parameter: str, problem: str, expression: str | None = None):
        super().__init__(parameter, problem, expression)  # args kept whole so the error pickles
        self.parameter, self.problem, self.expression = parameter, problem, expression

    def __str__(self) -> str:
        where = f" (in `{_excerpt(self.expression)}`)" if self.expression is not None else ""
        return f"parameter {self.parameter or '(root)'!r}: {self.problem}{where}"


class _Problem(Exception):
    """Raised below the public functions, which add the parameter's name."""


def resolve(params: Any, context: Mapping[str, Any], *, path: str = "") -> Any:
    """The same shape as `params` with every string template evaluated."""
    return _resolve(params, _Scope(context), path)


def condition(expr: str, context: Mapping[str, Any], *, parameter: str = "condition") -> bool:
    """Evaluate a bare CEL expression (no braces) that must give true or false."""
    if not isinstance(expr, str):
        raise ExpressionError(parameter, f"a condition must be text, not {type(expr).__name__}")
    value = _evaluate(expr.strip(), _Scope(context), parameter)
    if not isinstance(value, bool):
        raise ExpressionError(parameter, f"a condition must give true or false, not {_kind(value)}", expr)
    return value


def _resolve(value: Any, scope: _Scope, path: str) -> Any:
    if isinstance(value, str):
        return _render(value, scope, path)
    if isinstance(value, dict):
        return {k: _resolve(v, scope, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_resolve(v, scope, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def _render(text: str, scope: _Scope, parameter: str) -> Any:
    if "{{" not in text:
        return text
    literals, sources = _parse(text, parameter)
    if len(sources) == 1 and not literals[0].strip() and not literals[1].strip():
        return _evaluate(sources[0], scope, parameter)
    out, size = [literals[0]], len(literals[0])
    for source, literal in zip(sources, literals[1:]):
        value = _evaluate(source, scope, parameter)
        piece = value if isinstance(value, str) else "" if value is None else _json(value)
        out += (piece, literal)
        size += len(piece) + len(literal)
        if size > MAX_RENDERED:
            raise ExpressionError(parameter, f"the text grows beyond {MAX_RENDERED} characters")
    return "".join(out)


def _parse(text: str, parameter: str) -> tuple[list[str], list[str]]:
    """Split a template into literal texts and the expressions between them (one fewer)."""
    literals, sources, pending, pos = [], [], [], 0
    while match := _OPEN.search(text, pos):
        pending.append(text[pos : match.start()])
        pos = match.end()
        if match.group().startswith("\\"):
            pending.append("{{")
            continue
        close = _closing(text, pos)
        if close < 0:
            raise ExpressionError(parameter, f"the '{{{{' at character {match.start()} is never closed by '}}}}'")
        if len(sources) == MAX_SEGMENTS:
            raise ExpressionError(parameter, f"more than {MAX_SEGMENTS} '{{{{ }}}}' segments")
        literals.append("".join(pending))
        sources.append(text[pos:close].strip())
        pending, pos = [], close + 2
    literals.append("".join(pending + [text[pos:]]))
    return literals, sources


def _closing(text: str, pos: int) -> int:
    """Index of the `}}` ending the expression at `pos`, skipping string literals; -1 if none."""
    while match := _STRING_OR_CLOSE.search(text, pos):
        if match.group() == "}}":
            return match.start()
        pos = match.end()
    return -1


def _evaluate(source: str, scope: _Scope, parameter: str) -> Any:
    try:
        program, names = _compile(source)
        value = _plain_result(program.execute(scope.cel_context(names)))
        if len(value if isinstance(value, str) else _json(value)) > MAX_RENDERED:
            raise _Problem(f"the result is larger than {MAX_RENDERED} characters")
        return value
    except _Problem as problem:
        raise ExpressionError(parameter, str(problem), source) from None
    except BaseException as exc:  # builtin exceptions from the library; a Rust panic is pyo3's PanicException
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise ExpressionError(parameter, _describe(exc), source) from None


@functools.lru_cache(maxsize=1024)
def _compile(source: str) -> tuple[cel.Program, frozenset[str]]:
    """The program and the context names it reads."""
    if not source:
        raise _Problem("the expression is empty")
    if len(source) > MAX_EXPRESSION:
        raise _Problem(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        program = cel.compile(source)
    except Exception as exc:
        match = _SYNTAX.search(str(exc))
        raise _Problem(f"syntax error at {match[1]}:{match[2]}: {match[3]}" if match else _describe(exc)) from None
    _check_comprehensions(source)
    return program, frozenset(program.variables()) & NAMES.keys()


def _check_comprehensions(source: str) -> None:
    """Refuse nestings whose cost multiplies (see the module docstring); literals and comments
    are blanked first so that text inside them cannot count or hide anything."""
    code = _STRING_OR_COMMENT.sub(lambda m: " " if m.group().startswith("//") else '""', source)
    enclosing: list[str | None] = []  # one entry per open parenthesis: its macro, if any
    for match in _MACRO_OR_PAREN.finditer(code):
        if match.group() == ")":
            if enclosing:  # always, as the source compiled; guards against a lexing disagreement
                enclosing.pop()
            continue
        macro, outer = match.group(1), [m for m in enclosing if m]
        if macro and outer and (len(outer) > 1 or macro not in _PREDICATES):
            raise _Problem(f"'{macro}' cannot be nested in '{outer[-1]}': only all/exists/exists_one may be "
                           "nested, two deep at most")
        enclosing.append(macro)


class _Scope:
    """The context as CEL values, shared by every expression in one call. Each name is converted
    when an expression first reads it: conversion, not evaluation, dominates the cost (~2 µs per
    value in the library), and a large trigger payload need not be copied for `{{ vars.x }}`."""

    def __init__(self, context: Mapping[str, Any]):
        self._context, self._cel, self._added = context, cel.Context(), set()

    def cel_context(self, names: frozenset[str]) -> cel.Context:
        for name in names - self._added:
            self._cel.add_variable(name, _plain(self._context.get(name, NAMES[name]), name, 0))
            self._added.add(name)
        return self._cel


def _plain(value: Any, where: str, depth: int) -> Any:
    """A copy of a context value holding only plain data; anything else is refused."""
    if depth > MAX_DEPTH:
        raise _Problem(f"context value {_excerpt(where)} is nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # CEL ints are 64-bit; beyond that the library would turn them into uint or float
        if value in _INT64:
            return int(value)
        if abs(value) < 1 << 1023:
            return float(value)
        raise _Problem(f"context value {_excerpt(where)} is an integer too large for an expression")
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, datetime):
        return _rfc3339(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str | int):
                raise _Problem(f"context value {_excerpt(where)} has a key of type {type(key).__name__}")
        return {_plain(k, where, depth): _plain(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    raise _Problem(f"context value {_excerpt(where)} is a {type(value).__name__}; expressions see plain data only")


def _plain_result(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_plain_result(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_result(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return f"{int(seconds) if seconds.is_integer() else seconds}s"
    if isinstance(value, cel.OptionalValue):
        return _plain_result(value.value()) if value.has_value() else None
    raise _Problem(f"the result is {_kind(value)}, which parameters cannot hold (convert it with string())")


def _describe(exc: BaseException) -> str:
    """The library's message, which is usually good; a few builtin errors carry only a key."""
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0]!r}" if exc.args else "no such key"
    text = str(exc).strip() or type(exc).__name__
    if match := re.match(r"Undefined variable or function: ('[^']*')", text):
        text = f"unknown variable or function {match[1]} (the names are {', '.join(NAMES)})"
    return text if len(text) <= 400 else text[:400] + "…"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _kind(value: Any) -> str:
    kinds = {bool: "a bool", int: "an int", float: "a double", str: "a string", bytes: "bytes", list: "a list",
             dict: "a map", type(None): "null"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _excerpt(source: str) -> str:
    source = source.encode("utf-8", "backslashreplace").decode()  # lone surrogates must not break logging
    return source if len(source) <= 80 else source[:77] + "…"
