"""The Email Activity query language (`GET /v3/messages?query=...`), the subset Tempwork uses.

    to_email="wes@example.com" AND status="delivered"
    (unique_args['notification_id']="n-42") AND (unique_args['attempt']="1")
    msg_id LIKE 'LRzXl_NHStOGhQ4kofSm_A%'
    status IN ("processed", "delivered") AND NOT subject="Test"
    CONTAINS(categories, "verification")

Clauses are `field <op> value` (`=`, `!=`, `<`, `>`, `<=`, `>=`), `[NOT] LIKE` with `%`/`_`
wildcards, `[NOT] IN (...)`, `IS [NOT] NULL` and `CONTAINS(categories, "...")`, combined with
AND, OR, NOT and parentheses; keywords are case-insensitive and strings take either quote.
Addresses compare case-insensitively (so a search never misses a message because of how the
app capitalised an address); everything else is exact. A missing custom argument is NULL, which
(as in SQL) matches no comparison but `IS NULL`.

This is how the app decides after a crash whether an earlier attempt already sent an email, so
a query the sandbox cannot answer exactly is refused (400) rather than answered loosely.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import SendGridError

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

STRING_FIELDS = ("msg_id", "from_email", "to_email", "subject", "status", "template_id")
NUMBER_FIELDS = ("asm_group_id",)
EMAIL_FIELDS = ("from_email", "to_email")
# Real query fields the sandbox does not model; refused honestly instead of matching nothing.
NOT_SIMULATED = (
    "api_key_id",
    "clicks",
    "events",
    "ip_pool",
    "last_event_time",
    "marketing_campaign_id",
    "marketing_campaign_name",
    "opens",
    "originating_ip",
    "outbound_ip",
    "teammate",
    "template_name",
    "unique_clicks",
    "unique_opens",
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),\[\]])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IN", "IS", "NULL", "CONTAINS"}


class QueryError(SendGridError):
    def __init__(self, message: str) -> None:
        super().__init__(400, [{"message": f"invalid syntax: {message}", "field": "query"}])


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, op, punct, word, keyword, end
    text: str
    value: Any = None


def _tokens(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        if query[position:].strip() == "":
            break
        found = _TOKEN.match(query, position)
        if found is None or found.end() == position:
            raise QueryError(f"unexpected character {query[position:].strip()[:1]!r}")
        position = found.end()
        kind = found.lastgroup
        assert kind is not None
        text = found.group(kind)
        if kind == "string":
            tokens.append(Token("string", text, re.sub(r"\\(.)", r"\1", text[1:-1])))
        elif kind == "number":
            tokens.append(Token("number", text, float(text) if "." in text else int(text)))
        elif kind == "word" and text.upper() in _KEYWORDS:
            tokens.append(Token("keyword", text.upper()))
        else:
            tokens.append(Token(kind, text))
    tokens.append(Token("end", "end of query"))
    return tokens


def compile_query(query: str) -> Predicate:
    """A predicate over Email Activity records, or `QueryError` (SendGrid's 400)."""
    parser = _Parser(_tokens(query))
    predicate = parser.expression()
    parser.expect("end")
    return predicate


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def take(self) -> Token:
        token = self.current
        self.position += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.current.kind == kind and (text is None or self.current.text == text)

    def expect(self, kind: str, text: str | None = None) -> Token:
        if not self.at(kind, text):
            wanted = text or kind
            raise QueryError(f"expected {wanted} but found {self.current.text!r}")
        return self.take()

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while self.at("keyword", "OR"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else lambda r: any(t(r) for t in terms)

    def conjunction(self) -> Predicate:
        terms = [self.negation()]
        while self.at("keyword", "AND"):
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else lambda r: all(t(r) for t in terms)

    def negation(self) -> Predicate:
        if self.at("keyword", "NOT"):
            self.take()
            inner = self.negation()
            return lambda r: not inner(r)
        return self.primary()

    def primary(self) -> Predicate:
        if self.at("punct", "("):
            self.take()
            inner = self.expression()
            self.expect("punct", ")")
            return inner
        if self.at("keyword", "CONTAINS"):
            return self.contains()
        return self.comparison()

    def contains(self) -> Predicate:
        self.take()
        self.expect("punct", "(")
        name = self.expect("word").text
        if name != "categories":
            raise QueryError(f"CONTAINS expects categories as its first argument, not '{name}'")
        self.expect("punct", ",")
        wanted = self.literal()
        self.expect("punct", ")")
        return lambda r: wanted in (r.get("categories") or [])

    def field(self) -> tuple[str, Callable[[Record], Any]]:
        token = self.current
        if token.kind != "word":
            raise QueryError(f"expected a field name but found {token.text!r}")
        self.take()
        name = token.text
        if name == "unique_args":
            self.expect("punct", "[")
            key = self.expect("string").value
            self.expect("punct", "]")
            return "unique_args", lambda r: (r.get("custom_args") or {}).get(key)
        if name in STRING_FIELDS or name in NUMBER_FIELDS:
            return name, lambda r: r.get(name)
        if name in NOT_SIMULATED:
            raise QueryError(f"'{name}' is a known field, but the sandbox does not simulate it")
        raise QueryError(f"'{name}' is not a known field")

    def literal(self) -> Any:
        token = self.current
        if token.kind not in ("string", "number"):
            raise QueryError(f"expected a quoted value but found {token.text!r}")
        self.take()
        return token.value

    def comparison(self) -> Predicate:
        name, read = self.field()
        normalise = _normaliser(name)
        negate = False
        if self.at("keyword", "IS"):
            self.take()
            if self.at("keyword", "NOT"):
                self.take()
                negate = True
            self.expect("keyword", "NULL")
            return lambda r: (read(r) is None) != negate
        if self.at("keyword", "NOT"):
            self.take()
            negate = True
            if not (self.at("keyword", "LIKE") or self.at("keyword", "IN")):
                raise QueryError(f"expected LIKE or IN after NOT, found {self.current.text!r}")
        if self.at("keyword", "LIKE"):
            self.take()
            pattern = _like(str(self.expect("string").value), ignore_case=name in EMAIL_FIELDS)
            return _defined(read, lambda v: bool(pattern.fullmatch(str(v))) != negate)
        if self.at("keyword", "IN"):
            self.take()
            self.expect("punct", "(")
            options = [normalise(self.literal())]
            while self.at("punct", ","):
                self.take()
                options.append(normalise(self.literal()))
            self.expect("punct", ")")
            return _defined(read, lambda v: (normalise(v) in options) != negate)
        operator = self.expect("op").text
        wanted = normalise(self.literal())
        compare = _OPERATORS[operator]
        return _defined(read, lambda v: _safe(compare, normalise(v), wanted))


def _defined(read: Callable[[Record], Any], test: Callable[[Any], bool]) -> Predicate:
    """SQL's NULL: a missing value matches no comparison."""
    return lambda r: (value := read(r)) is not None and test(value)


def _normaliser(name: str) -> Callable[[Any], Any]:
    if name in EMAIL_FIELDS:
        return lambda v: str(v).lower()
    if name in NUMBER_FIELDS:
        return _number
    return str


def _number(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _safe(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    try:
        return compare(left, right)
    except TypeError:  # e.g. a number field compared with a word
        return False


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = ["." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
