"""Turns query text into tokens, each remembering where it starts so errors can point at it.

Besides the usual identifiers, numbers, strings and punctuation, two Kusto-specific forms are
recognised here because they cannot be tokenised like ordinary expressions:

* timespan literals such as ``5m``, ``100ms`` or ``1.5h`` (a number glued to a unit), and
* ``datetime(...)`` / ``timespan(...)`` whose parentheses hold raw text like
  ``2024-01-01T00:00:00Z`` that would otherwise lex as arithmetic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from .errors import KqlError
from .values import TIMESPAN_UNITS

__all__ = ["Token", "TokenKind", "tokenize"]


class TokenKind(enum.Enum):
    """The lexical categories the parser distinguishes."""

    IDENT = "identifier"
    STRING = "string"
    INT = "integer"
    REAL = "real"
    TIMESPAN = "timespan"
    RAW_LITERAL = "literal"
    PUNCT = "punctuation"
    EOF = "end of query"


@dataclass(frozen=True, slots=True)
class Token:
    """One token.

    Attributes:
        kind: Lexical category.
        text: The identifier or punctuation text; for ``RAW_LITERAL`` the type name
            (``datetime``/``timespan``); for literals the source text.
        value: The decoded literal (``str``, ``int``, ``float``, ``timedelta``; for
            ``RAW_LITERAL`` the raw text between the parentheses).
        pos: 0-based offset of the first character.
        end: Offset just past the last character.
    """

    kind: TokenKind
    text: str
    value: object
    pos: int
    end: int

    def describe(self) -> str:
        """How the token is named in "expected ..., found ..." messages."""
        if self.kind is TokenKind.EOF:
            return "end of query"
        return f"'{self.text}'"


_PUNCTUATION = (
    "==", "!=", "<>", "<=", ">=", "=~", "!~", "..",
    "|", "(", ")", "[", "]", "{", "}", ",", ";", "=", "<", ">",
    "+", "-", "*", "/", "%", ".", ":", "!", "~",
)  # fmt: skip
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
_RAW_LITERAL_TYPES = ("datetime", "timespan", "time")
_HEX = frozenset("0123456789abcdefABCDEF")


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9" and len(char) == 1


def _is_ident_start(char: str) -> bool:
    return char.isalpha() or char in "_$"


def _is_ident_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        text = self.text
        while True:
            self._skip_space_and_comments()
            if self.pos >= len(text):
                self.tokens.append(Token(TokenKind.EOF, "", None, len(text), len(text)))
                return self.tokens
            char = text[self.pos]
            following = text[self.pos + 1 : self.pos + 2]
            if char in "'\"":
                self._string(self.pos, verbatim=False)
            elif char in "@hH" and following in ("'", '"'):
                self._string(self.pos, verbatim=char == "@", prefix=1)
            elif _is_digit(char):
                self._number()
            elif _is_ident_start(char):
                self._identifier()
            else:
                self._punctuation()

    def _skip_space_and_comments(self) -> None:
        text = self.text
        while self.pos < len(text):
            if text[self.pos].isspace():
                self.pos += 1
            elif text.startswith("//", self.pos):
                newline = text.find("\n", self.pos)
                self.pos = len(text) if newline < 0 else newline + 1
            else:
                return

    def _string(self, start: int, *, verbatim: bool, prefix: int = 0) -> None:
        text = self.text
        quote = text[start + prefix]
        index = start + prefix + 1
        chars: list[str] = []
        while True:
            if index >= len(text) or (text[index] == "\n" and not verbatim):
                raise KqlError("unterminated string literal", start)
            char = text[index]
            if char == quote:
                if verbatim and text[index + 1 : index + 2] == quote:
                    chars.append(quote)
                    index += 2
                    continue
                break
            if char == "\\" and not verbatim:
                escaped = text[index + 1 : index + 2]
                code = text[index + 2 : index + 6]
                if escaped == "u" and len(code) == 4 and all(c in _HEX for c in code):
                    chars.append(chr(int(code, 16)))
                    index += 6
                    continue
                if escaped not in _ESCAPES:
                    raise KqlError(f"invalid escape sequence '\\{escaped}' in string", index)
                chars.append(_ESCAPES[escaped])
                index += 2
                continue
            chars.append(char)
            index += 1
        self.pos = index + 1
        self._emit(TokenKind.STRING, "".join(chars), start)

    def _number(self) -> None:
        text = self.text
        start = self.pos
        index = start
        while index < len(text) and _is_digit(text[index]):
            index += 1
        is_real = False
        if text[index : index + 1] == "." and _is_digit(text[index + 1 : index + 2]):
            is_real = True
            index += 1
            while index < len(text) and _is_digit(text[index]):
                index += 1
        exponent = text[index : index + 3]
        if exponent[:1] in ("e", "E") and (
            _is_digit(exponent[1:2]) or (exponent[1:2] in ("+", "-") and _is_digit(exponent[2:3]))
        ):
            is_real = True
            index += 2
            while index < len(text) and _is_digit(text[index]):
                index += 1
        number_text = text[start:index]
        if index < len(text) and _is_ident_char(text[index]):
            unit_end = index
            while unit_end < len(text) and _is_ident_char(text[unit_end]):
                unit_end += 1
            unit = text[index:unit_end]
            if unit.lower() not in TIMESPAN_UNITS:
                raise KqlError(f"invalid numeric literal '{text[start:unit_end]}'", start)
            self.pos = unit_end
            span: timedelta = float(number_text) * TIMESPAN_UNITS[unit.lower()]
            self._emit(TokenKind.TIMESPAN, span, start)
            return
        self.pos = index
        if is_real:
            self._emit(TokenKind.REAL, float(number_text), start)
        else:
            self._emit(TokenKind.INT, int(number_text), start)

    def _identifier(self) -> None:
        text = self.text
        start = self.pos
        index = start + 1
        while index < len(text) and _is_ident_char(text[index]):
            index += 1
        word = text[start:index]
        self.pos = index
        if word in _RAW_LITERAL_TYPES:
            self._skip_space_and_comments()
            if text[self.pos : self.pos + 1] == "(":
                close = text.find(")", self.pos)
                if close < 0:
                    raise KqlError(f"unterminated {word} literal", start)
                raw = text[self.pos + 1 : close]
                self.pos = close + 1
                self.tokens.append(Token(TokenKind.RAW_LITERAL, word, raw, start, self.pos))
                return
        self.tokens.append(Token(TokenKind.IDENT, word, word, start, index))

    def _punctuation(self) -> None:
        start = self.pos
        for symbol in _PUNCTUATION:
            if self.text.startswith(symbol, start):
                self.pos += len(symbol)
                self.tokens.append(Token(TokenKind.PUNCT, symbol, symbol, start, self.pos))
                return
        raise KqlError(f"unexpected character '{self.text[start]}'", start)

    def _emit(self, kind: TokenKind, value: object, start: int) -> None:
        self.tokens.append(Token(kind, self.text[start : self.pos], value, start, self.pos))


def tokenize(text: str) -> list[Token]:
    """Split query text into tokens, ending with an ``EOF`` token.

    Raises:
        KqlError: On an unterminated string, an invalid number or an unexpected character.
    """
    return _Lexer(text).run()
