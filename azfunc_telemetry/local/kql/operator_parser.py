"""Parsing rules of the less common operators and of the non-table sources.

Grammar (continuing :mod:`.parser`)::

    operator := 'parse' ['kind' '=' ('simple' | 'regex' | 'relaxed')] expr 'with' pattern
              | ('mv-expand' | 'mvexpand') mv_item {',' mv_item} ['limit' expr]
              | 'make-series' agg_default {',' agg_default} 'on' expr
                    ['from' expr] ['to' expr] 'step' expr ['by' named {',' named}]
              | 'lookup' ['kind' '=' IDENT] ('(' query ')' | IDENT) 'on' cond {',' cond}
              | 'serialize' [named {',' named}]
              | 'evaluate' IDENT '(' [expr {',' expr}] ')'
              | 'project-reorder' column {',' column}
    pattern  := { STRING | '*' | IDENT [':' IDENT] }
    mv_item  := [IDENT '='] expr ['to' 'typeof' '(' IDENT ')']
    agg_default := named ['default' '=' expr]
    source   := 'print' named {',' named}
              | 'datatable' '(' IDENT ':' IDENT {',' IDENT ':' IDENT} ')' '[' [expr {',' expr}] ']'
              | 'range' IDENT 'from' expr 'to' expr 'step' expr
"""

from __future__ import annotations

from . import syntax as ast
from .errors import KqlError
from .expression_parser import ExpressionParser
from .lexer import TokenKind

__all__ = ["OperatorParser"]


class OperatorParser(ExpressionParser):
    """The rules above; :class:`~.parser._QueryParser` builds on them."""

    def named(self) -> ast.NamedExpr:
        start = self.peek()
        if start.kind is TokenKind.IDENT and self.at_punct("=", 1):
            self.advance()
            self.advance()
            return ast.NamedExpr(start.text, self.expr(), start.pos)
        return ast.NamedExpr(None, self.expr(), start.pos)

    def named_list(self) -> tuple[ast.NamedExpr, ...]:
        items = [self.named()]
        while self.at_punct(","):
            self.advance()
            items.append(self.named())
        return tuple(items)

    def at_end_of_operator(self) -> bool:
        return (
            self.at_punct("|")
            or self.at_punct(")")
            or self.at_punct(";")
            or (self.peek().kind is TokenKind.EOF)
        )

    # --- operators --------------------------------------------------------------------------------

    def parse_operator(self, pos: int) -> ast.Parse:
        regex = False
        if self.at_word("kind") and self.at_punct("=", 1):
            self.advance()
            self.advance()
            kind = self.expect_ident("'simple', 'regex' or 'relaxed'")
            if kind.text not in ("simple", "regex", "relaxed"):
                raise KqlError(f"unknown parse kind '{kind.text}'", kind.pos)
            regex = kind.text == "regex"
        if self.at_word("flags") and self.at_punct("=", 1):
            raise KqlError(
                "parse flags are not supported by the local query engine", self.peek().pos
            )
        source = self.expr()
        self.expect_word("with")
        parts: list[ast.ParsePart] = []
        while not self.at_end_of_operator():
            token = self.peek()
            if token.kind is TokenKind.STRING:
                self.advance()
                parts.append(ast.ParsePart(str(token.value), None, "string"))
            elif self.at_punct("*"):
                self.advance()
                parts.append(ast.ParsePart(None, None, "string"))
            elif token.kind is TokenKind.IDENT:
                self.advance()
                column_kind = "string"
                if self.at_punct(":"):
                    self.advance()
                    column_kind = self.expect_ident("a type after ':'").text
                parts.append(ast.ParsePart(None, token.text, column_kind))
            else:
                raise self.fail("a string, '*' or a column name in the parse pattern")
        if not any(part.column for part in parts):
            raise KqlError("the parse pattern names no column", pos)
        return ast.Parse(source, regex, tuple(parts), pos)

    def mv_expand(self, pos: int) -> ast.MvExpand:
        while self.peek().kind is TokenKind.IDENT and self.peek().text in (
            "bagexpansion", "with_itemindex", "kind",
        ) and self.at_punct("=", 1):  # fmt: skip
            raise KqlError(f"mv-expand '{self.peek().text}' is not supported", self.peek().pos)
        items: list[ast.NamedExpr] = []
        types: list[str | None] = []
        while True:
            items.append(self.named())
            target = None
            if self.at_word("to") and self.at_word("typeof", 1):
                self.advance()
                self.advance()
                self.expect_punct("(")
                target = self.expect_ident("a type").text
                self.expect_punct(")")
            types.append(target)
            if not self.at_punct(","):
                break
            self.advance()
        limit = None
        if self.at_word("limit"):
            self.advance()
            limit = self.expr()
        return ast.MvExpand(tuple(items), tuple(types), limit, pos)

    def make_series(self, pos: int) -> ast.MakeSeries:
        aggregates: list[ast.NamedExpr] = []
        defaults: list[ast.Expr | None] = []
        while True:
            aggregates.append(self.named())
            default = None
            if self.at_word("default") and self.at_punct("=", 1):
                self.advance()
                self.advance()
                default = self.expr()
            defaults.append(default)
            if not self.at_punct(","):
                break
            self.advance()
        self.expect_word("on")
        axis = self.additive()  # not expr(): `on timestamp in range(...)` is not an `in` test
        start = end = None
        if self.at_word("in") and self.at_word("range", 1):  # legacy: in range(from, to, step)
            self.advance()
            self.advance()
            self.expect_punct("(")
            start = self.expr()
            self.expect_punct(",")
            end = self.expr()
            self.expect_punct(",")
            step = self.expr()
            self.expect_punct(")")
        else:
            if self.at_word("from"):
                self.advance()
                start = self.expr()
            if self.at_word("to"):
                self.advance()
                end = self.expr()
            self.expect_word("step")
            step = self.expr()
        by: tuple[ast.NamedExpr, ...] = ()
        if self.at_word("by"):
            self.advance()
            by = self.named_list()
        return ast.MakeSeries(tuple(aggregates), tuple(defaults), axis, start, end, step, by, pos)

    def evaluate_operator(self, pos: int) -> ast.Evaluate:
        plugin = self.expect_ident("a plugin name after 'evaluate'")
        if plugin.text != "bag_unpack":
            raise KqlError(
                f"plugin '{plugin.text}' is not supported by the local query engine", plugin.pos
            )
        self.expect_punct("(")
        args: list[ast.Expr] = []
        if not self.at_punct(")"):
            args.append(self.expr())
            while self.at_punct(","):
                self.advance()
                args.append(self.expr())
        self.expect_punct(")")
        return ast.Evaluate(plugin.text, tuple(args), pos)

    def project_reorder(self, pos: int) -> ast.ProjectReorder:
        columns = [self.column_pattern()]
        while True:
            if self.at_word("asc") or self.at_word("desc"):
                self.advance()
            if not self.at_punct(","):
                break
            self.advance()
            columns.append(self.column_pattern())
        return ast.ProjectReorder(tuple(columns), pos)

    def render_hint(self) -> ast.RenderHint:
        visualization = self.expect_ident("a visualization after 'render'").text
        properties: list[tuple[str, str]] = []
        if self.at_word("with"):
            self.advance()
            self.expect_punct("(")
            while not self.at_punct(")"):
                name = self.expect_ident("a render property")
                self.expect_punct("=")
                depth = 0
                tokens = []
                while depth or not (self.at_punct(",") or self.at_punct(")")):
                    token = self.advance()
                    if token.kind is TokenKind.EOF:
                        raise self.fail("')'")
                    if token.kind is TokenKind.PUNCT and token.text in "([":
                        depth += 1
                    elif token.kind is TokenKind.PUNCT and token.text in ")]":
                        depth -= 1
                    tokens.append(token)
                if len(tokens) == 1 and tokens[0].kind is TokenKind.STRING:
                    value = str(tokens[0].value)
                else:
                    value = " ".join(token.text for token in tokens)
                properties.append((name.text, value))
                if self.at_punct(","):
                    self.advance()
            self.expect_punct(")")
        return ast.RenderHint(visualization, tuple(properties))

    def union(self, pos: int) -> ast.Union:
        inner, source_column, fuzzy = False, None, False
        while self.peek().kind is TokenKind.IDENT and self.at_punct("=", 1):
            parameter = self.advance()
            self.advance()
            if parameter.text == "kind":
                kind = self.expect_ident("'inner' or 'outer'")
                if kind.text not in ("inner", "outer"):
                    raise KqlError(f"unknown union kind '{kind.text}'", kind.pos)
                inner = kind.text == "inner"
            elif parameter.text == "withsource":
                source_column = self.expect_ident("a column name after 'withsource='").text
            elif parameter.text == "isfuzzy":
                if not (self.at_word("true") or self.at_word("false")):
                    raise self.fail("'true' or 'false'")
                fuzzy = self.advance().text == "true"
            else:
                raise KqlError(f"unknown union parameter '{parameter.text}'", parameter.pos)
        legs = [self.union_leg()]
        while self.at_punct(","):
            self.advance()
            legs.append(self.union_leg())
        return ast.Union(tuple(legs), inner, source_column, fuzzy, pos)

    def search(self, pos: int) -> tuple[ast.Union, ast.Where]:
        """``search [in (T, ...)] "term"``: the tables (all by default) where any column has it."""
        legs: list[ast.TableRef | ast.Query] = []
        if self.at_word("in"):
            self.advance()
            self.expect_punct("(")
            legs.append(self.union_leg())
            while self.at_punct(","):
                self.advance()
                legs.append(self.union_leg())
            self.expect_punct(")")
        else:
            legs.append(ast.TableRef("*", pos))
        union = ast.Union(tuple(legs), False, "$table", False, pos)
        return union, self.search_predicate(pos)

    def search_predicate(self, pos: int) -> ast.Where:
        """The search terms as a ``where``: each string literal means "some column has it"."""

        def terms(expr: ast.Expr) -> ast.Expr:
            if isinstance(expr, ast.Literal) and isinstance(expr.value, str):
                text = expr.value
                op = "has"
                if text.startswith("*") and text.endswith("*") and len(text) > 1:
                    op, text = "contains", text[1:-1]
                elif text.endswith("*"):
                    op, text = "startswith", text[:-1]
                elif text.startswith("*"):
                    op, text = "endswith", text[1:]
                return ast.Binary(op, ast.Star(expr.pos), ast.Literal(text, expr.pos), expr.pos)
            if isinstance(expr, ast.Binary) and expr.op in ("and", "or"):
                return ast.Binary(expr.op, terms(expr.left), terms(expr.right), expr.pos)
            if isinstance(expr, ast.Call) and expr.name == "not" and len(expr.args) == 1:
                return ast.Call("not", (terms(expr.args[0]),), expr.pos)
            return expr

        if self.at_word("kind") and self.at_punct("=", 1):
            raise KqlError("search kind is not supported by the local query engine", pos)
        return ast.Where(terms(self.expr()), pos)

    def union_leg(self) -> ast.TableRef | ast.Query:
        start = self.peek()
        if self.at_punct("("):
            self.advance()
            leg = self.query()
            self.expect_punct(")")
            return leg
        if not (self.at_punct("*") or start.kind is TokenKind.IDENT):
            raise self.fail("a table name, a wildcard or '(' after 'union'")
        name = self.advance().text
        # Glue a wildcard pattern such as `app*` or `*Events` back together.
        while self.adjacent(0) and (self.at_punct("*") or self.peek().kind is TokenKind.IDENT):
            name += self.advance().text
        return ast.TableRef(name, start.pos)

    # --- sources ------------------------------------------------------------------------------

    def print_source(self, pos: int) -> ast.Print:
        return ast.Print(self.named_list(), pos)

    def datatable_source(self, pos: int) -> ast.DataTable:
        self.expect_punct("(")
        columns: list[tuple[str, str]] = []
        while True:
            name = self.expect_ident("a column name")
            self.expect_punct(":")
            kind = self.expect_ident("a column type")
            columns.append((name.text, kind.text))
            if not self.at_punct(","):
                break
            self.advance()
        self.expect_punct(")")
        self.expect_punct("[")
        values: list[ast.Expr] = []
        while not self.at_punct("]"):
            values.append(self.expr())
            if not self.at_punct(","):
                break
            self.advance()
        self.expect_punct("]")
        if len(values) % len(columns):
            raise KqlError(
                f"datatable has {len(values)} values, not a multiple of its {len(columns)} columns",
                pos,
            )
        return ast.DataTable(tuple(columns), tuple(values), pos)

    def range_source(self, pos: int) -> ast.Range:
        column = self.expect_ident("a column name after 'range'")
        self.expect_word("from")
        start = self.expr()
        self.expect_word("to")
        end = self.expr()
        self.expect_word("step")
        step = self.expr()
        return ast.Range(column.text, start, end, step, pos)
