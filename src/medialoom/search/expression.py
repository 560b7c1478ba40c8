"""Cloudinary's search expression language, parsed into a small tree.

    tags:cat AND (format=png OR format=jpg) -folder:tmp/* bytes>1mb uploaded_at:[2024-01-01 TO 1w}

The grammar, loosest binding first::

    query    := or
    or       := and ("OR" and)*
    and      := unary (["AND"] unary)*          juxtaposition is AND
    unary    := ("NOT" | "-") unary | "+"? primary
    primary  := "(" or ")" | field op value | field ":" "(" values ")" | term
    op       := ":" | "=" | "<" | ">" | "<=" | ">=" | ":<" | ":>" | ":<=" | ":>="
    value    := quoted | word | ("[" | "{") bound "TO" bound ("]" | "}")

Words end at whitespace or a parenthesis; a backslash escapes the next character; a trailing
unescaped ``*`` asks for a prefix. Values are kept as text here: what they mean (a size, a
date, a tag) depends on the field, which is the compiler's business. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

MAX_LENGTH = 4000
MAX_DEPTH = 32
MAX_TERMS = 200
KEYWORDS = ("AND", "OR", "NOT", "TO")
_OPERATORS = (":>=", ":<=", ">=", "<=", ":>", ":<", ":", "=", ">", "<")
_WORD_END = " \t\r\n\f\v()"
_FIELD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class ExpressionError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class Value:
    text: str
    prefix: bool = False  # ended with an unescaped "*"
    quoted: bool = False


@dataclass(frozen=True)
class Term:
    """A free term, matched against every text field."""

    value: Value


@dataclass(frozen=True)
class Match:
    field: str
    op: str  # ":", "=", "<", ">", "<=", ">="
    value: Value


@dataclass(frozen=True)
class Range:
    field: str
    low: Value | None  # None: open ("*")
    high: Value | None
    low_inclusive: bool
    high_inclusive: bool


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Union[Term, Match, Range, And, Or, Not]


def parse(text: str) -> Node | None:
    """The tree for ``text``; None for an empty expression (which matches everything)."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"Expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    parser = _Parser(text)
    parser.skip_space()
    if parser.at_end():
        return None
    node = parser.parse_or(depth=0)
    parser.skip_space()
    if not parser.at_end():
        raise ExpressionError(f"Unexpected {parser.text[parser.pos]!r}", parser.pos)
    return node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.terms = 0

    # -- scanning ---------------------------------------------------------------------------

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def keyword(self, word: str) -> bool:
        """Consume ``word`` when it stands alone here (followed by space, a parenthesis or the end)."""
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (end >= len(self.text) or self.text[end] in _WORD_END):
            self.pos = end
            return True
        return False

    def looking_at_keyword(self, *words: str) -> bool:
        start = self.pos
        for word in words:
            if self.keyword(word):
                self.pos = start
                return True
        return False

    def read_word(self, stop: str) -> tuple[Value, int]:
        """A bare word up to whitespace, a parenthesis or a character of ``stop``."""
        start = self.pos
        chars: list[str] = []
        prefix = False
        while not self.at_end():
            char = self.text[self.pos]
            if char in _WORD_END or char in stop:
                break
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    raise ExpressionError("Nothing to escape after '\\'", self.pos)
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                raise ExpressionError("Unexpected '\"' inside a word", self.pos)
            if char == "*" and (self.pos + 1 >= len(self.text) or self.text[self.pos + 1] in _WORD_END or
                                self.text[self.pos + 1] in stop):
                prefix = True
                self.pos += 1
                break
            chars.append(char)
            self.pos += 1
        return Value("".join(chars), prefix=prefix), start

    def read_quoted(self) -> Value:
        start = self.pos
        self.pos += 1  # opening quote
        chars: list[str] = []
        while True:
            if self.at_end():
                raise ExpressionError("Unterminated quoted value", start)
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                break
            chars.append(char)
        # "products/*" in quotes still asks for a prefix, as Cloudinary's own CLI writes it.
        text = "".join(chars)
        raw = self.text[start + 1:self.pos - 1]
        if raw.endswith("*") and not raw.endswith("\\*"):
            return Value(text[:-1], prefix=True, quoted=True)
        return Value(text, quoted=True)

    # -- grammar ----------------------------------------------------------------------------

    def parse_or(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"Expression is nested deeper than {MAX_DEPTH} levels", self.pos)
        parts = [self.parse_and(depth)]
        while True:
            self.skip_space()
            if not self.keyword("OR"):
                break
            parts.append(self.parse_and(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_and(self, depth: int) -> Node:
        parts = [self.parse_unary(depth)]
        while True:
            self.skip_space()
            if self.at_end() or self.peek() == ")" or self.looking_at_keyword("OR"):
                break
            self.keyword("AND")
            parts.append(self.parse_unary(depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self, depth: int) -> Node:
        self.skip_space()
        if self.at_end():
            raise ExpressionError("Expected a term", self.pos)
        if self.keyword("NOT"):
            return Not(self.parse_unary(depth + 1))
        if self.peek() == "-" and self.pos + 1 < len(self.text) and not self.text[self.pos + 1].isspace():
            self.pos += 1
            return Not(self.parse_unary(depth + 1))
        if self.peek() == "+":
            self.pos += 1
        return self.parse_primary(depth)

    def parse_primary(self, depth: int) -> Node:
        self.skip_space()
        start = self.pos
        char = self.peek()
        if char == "(":
            return self.parenthesized(lambda: self.parse_or(depth + 1))
        if char == ")":
            raise ExpressionError("Unexpected ')'", self.pos)
        if self.looking_at_keyword(*KEYWORDS):
            raise ExpressionError("Expected a term, not an operator", self.pos)
        self._count_term(start)
        if char == '"':
            return Term(self.read_quoted())
        word, _ = self.read_word(stop=":=<>")
        op = self._operator()
        if op is None:
            if not word.text and not word.prefix:
                raise ExpressionError(f"Unexpected {self.peek()!r}", self.pos)
            return Term(word)
        if word.prefix or not word.text or not set(word.text) <= _FIELD_CHARS:
            raise ExpressionError("Expected a field name before the operator", start)
        return self.parse_field_value(word.text, op, depth)

    def parenthesized(self, inner: Callable[[], Node]) -> Node:
        self.pos += 1  # the opening parenthesis
        node = inner()
        self.skip_space()
        if self.peek() != ")":
            raise ExpressionError("Expected ')'", self.pos)
        self.pos += 1
        return node

    def _operator(self) -> str | None:
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op.lstrip(":") or ":"
        return None

    def _count_term(self, position: int) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise ExpressionError(f"Expression has more than {MAX_TERMS} terms", position)

    def parse_field_value(self, field: str, op: str, depth: int) -> Node:
        char = self.peek()
        if char in ("[", "{"):
            if op not in (":", "="):
                raise ExpressionError("A range takes ':'", self.pos)
            return self.parse_range(field)
        if char == "(":
            if op not in (":", "="):
                raise ExpressionError("A group of values takes ':' or '='", self.pos)
            return self.parenthesized(lambda: self.parse_value_or(field, op, depth + 1))
        value = self.read_value()
        return Match(field, op, value)

    def read_value(self) -> Value:
        if self.at_end() or self.peek().isspace() or self.peek() == ")":
            raise ExpressionError("Expected a value", self.pos)
        if self.peek() == '"':
            return self.read_quoted()
        value, start = self.read_word(stop="")
        if not value.text and not value.prefix:
            raise ExpressionError("Expected a value", start)
        return value

    def parse_value_or(self, field: str, op: str, depth: int) -> Node:
        """``status:(active OR pending)``: the same grammar, with values instead of terms."""
        if depth > MAX_DEPTH:
            raise ExpressionError(f"Expression is nested deeper than {MAX_DEPTH} levels", self.pos)
        parts = [self.parse_value_and(field, op, depth)]
        while True:
            self.skip_space()
            if not self.keyword("OR"):
                break
            parts.append(self.parse_value_and(field, op, depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_value_and(self, field: str, op: str, depth: int) -> Node:
        parts = [self.parse_value_unary(field, op, depth)]
        while True:
            self.skip_space()
            if self.at_end() or self.peek() == ")" or self.looking_at_keyword("OR"):
                break
            self.keyword("AND")
            parts.append(self.parse_value_unary(field, op, depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_value_unary(self, field: str, op: str, depth: int) -> Node:
        self.skip_space()
        if self.keyword("NOT"):
            return Not(self.parse_value_unary(field, op, depth + 1))
        if self.peek() == "(":
            return self.parenthesized(lambda: self.parse_value_or(field, op, depth + 1))
        self._count_term(self.pos)
        return Match(field, op, self.read_value())

    def parse_range(self, field: str) -> Range:
        opening = self.text[self.pos]
        self.pos += 1
        self.skip_space()
        low = self._bound()
        self.skip_space()
        if not self.keyword("TO"):
            raise ExpressionError("Expected 'TO' in a range", self.pos)
        self.skip_space()
        high = self._bound()
        self.skip_space()
        closing = self.peek()
        if closing not in ("]", "}"):
            raise ExpressionError("Expected ']' or '}' to close the range", self.pos)
        self.pos += 1
        return Range(field, low, high, low_inclusive=opening == "[", high_inclusive=closing == "]")

    def _bound(self) -> Value | None:
        if self.peek() == '"':
            return self.read_quoted()
        value, start = self.read_word(stop="]}")
        if value.prefix and not value.text:
            return None
        if not value.text:
            raise ExpressionError("Expected a range bound", start)
        return value
