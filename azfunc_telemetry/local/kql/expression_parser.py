"""Parsing of scalar expressions, shared by every tabular operator.

See :mod:`.parser` for the whole grammar. Precedence from loosest to tightest: ``or``, ``and``,
comparisons and string operators (``==``, ``contains``, ``in``, ``between``...), ``+ -``,
``* / %``, unary ``-``, then postfix property access (``.key``, ``["key"]``).
"""

from __future__ import annotations

from typing import Any

from . import syntax as ast
from .errors import KqlError
from .lexer import Token, TokenKind
from .values import parse_datetime_text, parse_timespan_text

__all__ = ["STRING_OPERATORS", "ExpressionParser"]

STRING_OPERATORS = frozenset(
    f"{word}{suffix}"
    for word in ("contains", "has", "startswith", "endswith", "hasprefix", "hassuffix")
    for suffix in ("", "_cs")
)
_COMPARISON_PUNCT = {"==": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">"}
_COMPARISON_PUNCT.update({">=": ">=", "=~": "=~", "!~": "!~"})
# Well-known Kusto functions outside the subset; named in the error so the query is not mistaken
# for a typo (their arguments, such as `*` in arg_max, may not even parse here).
_UNSUPPORTED_FUNCTIONS = frozenset(
    ("dcount_hll", "hash", "hll", "parse_path", "percentile_tdigest", "percentilesw", "tdigest")
)  # fmt: skip
_TYPED_NULLS = frozenset(
    ("bool", "boolean", "int", "long", "real", "double", "decimal", "string", "guid")
)


class ExpressionParser:
    """A token cursor with the expression rules; the query parser builds on it."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    # --- token helpers --------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.EOF:
            self.index += 1
        return token

    def at_punct(self, symbol: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind is TokenKind.PUNCT and token.text == symbol

    def at_word(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind is TokenKind.IDENT and token.text == word

    def adjacent(self, offset: int) -> bool:
        """True when token ``offset`` starts exactly where the previous one ends."""
        return self.peek(offset).pos == self.peek(offset - 1).end

    def fail(self, expected: str) -> KqlError:
        token = self.peek()
        return KqlError(f"expected {expected}, found {token.describe()}", token.pos)

    def expect_punct(self, symbol: str) -> Token:
        if not self.at_punct(symbol):
            raise self.fail(f"'{symbol}'")
        return self.advance()

    def expect_word(self, word: str) -> Token:
        if not self.at_word(word):
            raise self.fail(f"'{word}'")
        return self.advance()

    def expect_ident(self, what: str) -> Token:
        if self.peek().kind is not TokenKind.IDENT:
            raise self.fail(what)
        return self.advance()

    def column(self) -> ast.ColumnRef:
        if self.at_punct("[") and self.peek(1).kind is TokenKind.STRING:
            start = self.advance()
            name = self.advance()
            self.expect_punct("]")
            return ast.ColumnRef(str(name.value), start.pos)
        token = self.expect_ident("a column name")
        return ast.ColumnRef(token.text, token.pos)

    def column_pattern(self) -> ast.ColumnRef:
        """A column name that may hold ``*`` wildcards (``customDimensions*``, ``*Id``)."""
        if not self.at_punct("*"):
            start = self.column()
            name = start.name
        else:
            start = ast.ColumnRef("*", self.advance().pos)
            name = "*"
        while self.adjacent(0) and (self.at_punct("*") or self.peek().kind is TokenKind.IDENT):
            name += self.advance().text
        return ast.ColumnRef(name, start.pos)

    # --- scalar expressions ---------------------------------------------------------------------

    def expr(self) -> ast.Expr:
        left = self.and_expr()
        while self.at_word("or"):
            op = self.advance()
            left = ast.Binary("or", left, self.and_expr(), op.pos)
        return left

    def and_expr(self) -> ast.Expr:
        left = self.comparison()
        while self.at_word("and"):
            op = self.advance()
            left = ast.Binary("and", left, self.comparison(), op.pos)
        return left

    def comparison(self) -> ast.Expr:
        left = self.additive()
        token = self.peek()
        if token.kind is TokenKind.PUNCT and token.text in _COMPARISON_PUNCT:
            self.advance()
            return ast.Binary(_COMPARISON_PUNCT[token.text], left, self.additive(), token.pos)
        negated = False
        if self.at_punct("!") and self.peek(1).kind is TokenKind.IDENT and self.adjacent(1):
            negated = True
            self.advance()
        word = self.peek()
        if word.kind is not TokenKind.IDENT:
            return left
        if word.text in STRING_OPERATORS:
            self.advance()
            op = ("!" if negated else "") + word.text
            return ast.Binary(op, left, self.additive(), token.pos)
        if word.text in ("has_any", "has_all") and not negated:
            self.advance()
            self.expect_punct("(")
            items = self.value_list()
            self.expect_punct(")")
            return ast.TermList(word.text, left, tuple(items), token.pos)
        if word.text == "matches" and not negated and self.at_word("regex", 1):
            self.advance()
            self.advance()
            return ast.Binary("matches regex", left, self.additive(), token.pos)
        if word.text == "in":
            self.advance()
            case_insensitive = self.at_punct("~") and self.adjacent(0)
            if case_insensitive:
                self.advance()
            self.expect_punct("(")
            items = self.value_list()
            self.expect_punct(")")
            return ast.InList(left, tuple(items), negated, case_insensitive, token.pos)
        if word.text == "between":
            self.advance()
            self.expect_punct("(")
            low = self.additive()
            self.expect_punct("..")
            high = self.additive()
            self.expect_punct(")")
            return ast.Between(left, low, high, negated, token.pos)
        if negated:
            raise KqlError(f"unknown operator '!{word.text}'", token.pos)
        return left

    def query(self) -> ast.Query:
        """A tabular query; the query parser supplies it."""
        raise NotImplementedError

    def starts_query(self) -> bool:
        """Whether the cursor is at a tabular query (``T | ...`` or ``(T | ...)``)."""
        token = self.peek()
        if token.kind is TokenKind.IDENT and self.at_punct("|", 1):
            return True
        return self.at_punct("(") and self.peek(1).kind is TokenKind.IDENT and self.at_punct("|", 2)

    def value_list(self) -> list[ast.Expr]:
        """The items of ``in (...)``/``has_any (...)``: expressions, or one tabular query."""
        if self.starts_query():
            start = self.peek()
            return [ast.Subquery(self.query(), start.pos)]
        items = [self.expr()]
        while self.at_punct(","):
            self.advance()
            items.append(self.expr())
        return items

    def additive(self) -> ast.Expr:
        left = self.multiplicative()
        while self.at_punct("+") or self.at_punct("-"):
            op = self.advance()
            left = ast.Binary(op.text, left, self.multiplicative(), op.pos)
        return left

    def multiplicative(self) -> ast.Expr:
        left = self.unary()
        while self.at_punct("*") or self.at_punct("/") or self.at_punct("%"):
            op = self.advance()
            left = ast.Binary(op.text, left, self.unary(), op.pos)
        return left

    def unary(self) -> ast.Expr:
        if self.at_punct("-") or self.at_punct("+"):
            op = self.advance()
            operand = self.unary()
            if isinstance(operand, ast.Literal) and op.text == "-":
                value = operand.value
                if not isinstance(value, (bool, str)) and value is not None:
                    return ast.Literal(-value, op.pos)
            return ast.Unary(op.text, operand, op.pos)
        return self.postfix()

    def postfix(self) -> ast.Expr:
        expr = self.primary()
        while True:
            if self.at_punct(".") and self.at_punct("[", 1):
                self.advance()  # `bag.['key']` is the same as `bag['key']`
                bracket = self.advance()
                index = self.expr()
                self.expect_punct("]")
                expr = ast.Index(expr, index, bracket.pos)
            elif self.at_punct("."):
                self.advance()
                key = self.expect_ident("a property name after '.'")
                expr = ast.Member(expr, key.text, key.pos)
            elif self.at_punct("["):
                bracket = self.advance()
                index = self.expr()
                self.expect_punct("]")
                expr = ast.Index(expr, index, bracket.pos)
            else:
                return expr

    def primary(self) -> ast.Expr:
        token = self.peek()
        kind = token.kind
        if kind in (TokenKind.STRING, TokenKind.INT, TokenKind.REAL, TokenKind.TIMESPAN):
            self.advance()
            return ast.Literal(token.value, token.pos)
        if kind is TokenKind.RAW_LITERAL:
            self.advance()
            return ast.Literal(self.raw_literal(token), token.pos)
        if kind is TokenKind.IDENT:
            return self.identifier_expr()
        if self.at_punct("("):
            self.advance()
            inner = self.expr()
            self.expect_punct(")")
            return inner
        if self.at_punct("[") and self.peek(1).kind is TokenKind.STRING:
            return self.column()
        if self.at_punct("*"):  # `* has "x"`: any column
            return ast.Star(self.advance().pos)
        raise self.fail("an expression")

    def identifier_expr(self) -> ast.Expr:
        token = self.advance()
        name = token.text
        if name in ("true", "false"):
            return ast.Literal(name == "true", token.pos)
        if not self.at_punct("("):
            return ast.ColumnRef(name, token.pos)
        if name in _UNSUPPORTED_FUNCTIONS:
            raise KqlError(
                f"function '{name}' is not supported by the local query engine", token.pos
            )
        if name == "dynamic":
            self.advance()
            value = self.json_value()
            self.expect_punct(")")
            return ast.Literal(value, token.pos)
        if name in _TYPED_NULLS and self.at_word("null", 1) and self.at_punct(")", 2):
            self.index += 3
            return ast.Literal(None, token.pos)
        self.advance()
        if name == "toscalar":
            inner = self.peek()
            subquery = ast.Subquery(self.query(), inner.pos)
            self.expect_punct(")")
            return ast.Call(name, (subquery,), token.pos)
        args: list[ast.Expr] = []
        if not self.at_punct(")"):
            args.append(self.argument())
            while self.at_punct(","):
                self.advance()
                args.append(self.argument())
        self.expect_punct(")")
        return ast.Call(name, tuple(args), token.pos)

    def argument(self) -> ast.Expr:
        if self.at_punct("*") and (self.at_punct(",", 1) or self.at_punct(")", 1)):
            return ast.Star(self.advance().pos)
        return self.expr()

    def raw_literal(self, token: Token) -> Any:
        raw = str(token.value).strip()
        if raw == "null":
            return None
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            raw = raw[1:-1]
        parsed = parse_datetime_text(raw) if token.text == "datetime" else parse_timespan_text(raw)
        if parsed is None:
            raise KqlError(f"invalid {token.text} literal '{raw}'", token.pos)
        return parsed

    def json_value(self) -> Any:
        token = self.peek()
        if token.kind in (TokenKind.STRING, TokenKind.INT, TokenKind.REAL, TokenKind.TIMESPAN):
            return self.advance().value
        if self.at_punct("-") and self.peek(1).kind in (TokenKind.INT, TokenKind.REAL):
            self.advance()
            return -self.advance().value  # type: ignore[operator]
        if token.kind is TokenKind.IDENT and token.text in ("true", "false", "null"):
            self.advance()
            return None if token.text == "null" else token.text == "true"
        if self.at_punct("["):
            self.advance()
            items: list[Any] = []
            while not self.at_punct("]"):
                items.append(self.json_value())
                if not self.at_punct(","):
                    break
                self.advance()
            self.expect_punct("]")
            return items
        if self.at_punct("{"):
            self.advance()
            bag: dict[str, Any] = {}
            while not self.at_punct("}"):
                key = self.advance()
                if key.kind not in (TokenKind.STRING, TokenKind.IDENT):
                    raise KqlError(f"expected a property name, found {key.describe()}", key.pos)
                self.expect_punct(":")
                bag[str(key.value)] = self.json_value()
                if not self.at_punct(","):
                    break
                self.advance()
            self.expect_punct("}")
            return bag
        raise self.fail("a dynamic value")
