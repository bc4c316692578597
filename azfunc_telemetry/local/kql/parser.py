"""Recursive-descent parser for the supported Kusto subset.

Grammar (``{x}`` = zero or more, ``[x]`` = optional, quoted text = literal tokens; words such as
``by`` or ``and`` are contextual, so they stay usable as column names elsewhere)::

    script      := { 'let' IDENT '=' (query | expr) ';' } query [';'] EOF
    query       := source { '|' operator }
    source      := IDENT | '(' query ')' | 'union' union
    operator    := ('where' | 'filter') expr
                 | 'project' named {',' named}
                 | 'project-away' column {',' column}
                 | 'project-rename' IDENT '=' column {',' IDENT '=' column}
                 | 'extend' named {',' named}
                 | 'summarize' [named {',' named}] ['by' named {',' named}]
                 | ('order' | 'sort') 'by' sortkey {',' sortkey}
                 | 'top' expr 'by' sortkey
                 | ('take' | 'limit') expr
                 | 'count'
                 | 'distinct' ('*' | column {',' column})
                 | 'join' ['kind' '=' IDENT] ('(' query ')' | IDENT) 'on' cond {(',' | 'and') cond}
                 | 'union' union
                 | 'render' IDENT ['with' '(' ... ')']    -- only as the last operator; ignored
    union       := {('kind' '=' ('inner' | 'outer') | 'withsource' '=' IDENT
                     | 'isfuzzy' '=' ('true' | 'false'))} leg {',' leg}
    leg         := '(' query ')' | IDENT | pattern with '*' such as '*' or 'app*'
    named       := [IDENT '='] expr
    column      := IDENT | '[' STRING ']'
    sortkey     := expr ['asc' | 'desc'] ['nulls' ('first' | 'last')]
    cond        := IDENT | side '.' IDENT '==' side '.' IDENT          side := '$left' | '$right'
    expr        := and_expr {'or' and_expr}
    and_expr    := comparison {'and' comparison}
    comparison  := additive [ cmp_op additive
                            | ['!'] string_op additive
                            | 'matches' 'regex' additive
                            | ['!'] 'in' ['~'] '(' expr {',' expr} ')'
                            | ['!'] 'between' '(' additive '..' additive ')' ]
    cmp_op      := '==' | '!=' | '<>' | '<' | '<=' | '>' | '>=' | '=~' | '!~'
    string_op   := 'contains' | 'has' | 'startswith' | 'endswith' (each also with '_cs')
    additive    := multiplicative {('+' | '-') multiplicative}
    multiplicative := unary {('*' | '/' | '%') unary}
    unary       := ('-' | '+') unary | postfix
    postfix     := primary { '.' IDENT | ['.'] '[' expr ']' }
    primary     := STRING | INT | REAL | TIMESPAN | 'true' | 'false'
                 | 'datetime(' raw ')' | 'timespan(' raw ')' | 'dynamic' '(' json ')'
                 | TYPE '(' 'null' ')' | IDENT '(' [expr {',' expr}] ')' | IDENT
                 | '[' STRING ']' | '(' expr ')'

Operators that Kusto has but this engine does not evaluate are rejected by name, so the developer
learns the query is valid Kusto that must be run in the portal instead.
"""

from __future__ import annotations

from . import syntax as ast
from .errors import KqlError
from .lexer import Token, TokenKind, tokenize
from .operator_parser import OperatorParser

__all__ = ["parse"]

_JOIN_KINDS = {
    "inner": "inner",
    "innerunique": "innerunique",
    "leftouter": "leftouter",
    "rightouter": "rightouter",
    "fullouter": "fullouter",
    "leftsemi": "leftsemi",
    "rightsemi": "rightsemi",
    "leftanti": "leftanti",
    "anti": "leftanti",
    "leftantisemi": "leftanti",
    "rightanti": "rightanti",
    "rightantisemi": "rightanti",
}
_UNSUPPORTED_OPERATORS = frozenset(
    (
        "as", "consume", "extend-if", "facet", "find", "fork", "invoke",
        "mv-apply", "parse-kv", "parse-where", "partition", "range", "reduce",
        "sample", "sample-distinct", "scan", "top-hitters", "top-nested",
    )
)  # fmt: skip

# Tabular operators that start a query instead of reading a table.
_UNSUPPORTED_SOURCES = frozenset(("evaluate", "externaldata", "find"))
_SOURCES = ("print", "datatable", "range")
# Words that start a tabular expression, so `let name = union ...;` binds a table.
_TABULAR_STARTS = frozenset(("union", "datatable", "range", "print"))


class _QueryParser(OperatorParser):
    """The statement and tabular-operator rules."""

    # --- statements -----------------------------------------------------------------------------

    def script(self) -> ast.Script:
        self.render: ast.RenderHint | None = None
        lets: list[ast.LetStatement] = []
        while self.at_word("let"):
            lets.append(self.let_statement())
        query = self.query()
        while self.at_punct(";"):
            self.advance()
        if self.peek().kind is not TokenKind.EOF:
            raise self.fail("'|' or end of query")
        return ast.Script(tuple(lets), query, self.render)

    def let_statement(self) -> ast.LetStatement:
        self.advance()
        name = self.expect_ident("a name after 'let'")
        self.expect_punct("=")
        value: ast.Expr | ast.Query
        if self.at_word("materialize") and self.at_punct("(", 1):
            # materialize() is a caching hint; the local engine evaluates each `let` once anyway.
            self.advance()
            self.advance()
            value = self.query()
            self.expect_punct(")")
            self.expect_punct(";")
            return ast.LetStatement(name.text, value, name.pos)
        starts_table = self.peek().kind is TokenKind.IDENT and (
            self.at_punct("|", 1) or self.peek().text in _TABULAR_STARTS
        )
        if starts_table or (self.at_punct("(") and self._parenthesised_query()):
            value = self.query()
        else:
            value = self.expr()
        self.expect_punct(";")
        return ast.LetStatement(name.text, value, name.pos)

    def _parenthesised_query(self) -> bool:
        """Whether the ``(`` at the cursor opens a tabular query rather than an expression."""
        depth, offset = 0, 0
        while True:
            token = self.peek(offset)
            if token.kind is TokenKind.EOF:
                return False
            if token.kind is TokenKind.PUNCT and token.text in "([":
                depth += 1
            elif token.kind is TokenKind.PUNCT and token.text in ")]":
                depth -= 1
                if depth == 0:
                    return False
            elif depth == 1 and token.kind is TokenKind.PUNCT and token.text == "|":
                return True
            offset += 1

    def query(self) -> ast.Query:
        start = self.peek()
        source: ast.TableRef | ast.Query | ast.Union | ast.Print | ast.DataTable | ast.Range
        if self.at_word("union"):
            self.advance()
            source = self.union(start.pos)
        elif self.at_word("search") and not self.at_punct("|", 1):
            self.advance()
            source, found = self.search(start.pos)
            operators_first: list[ast.Operator] = [found]
            return self.rest_of_query(source, operators_first, start.pos)
        elif start.kind is TokenKind.IDENT and start.text in _SOURCES and not self.at_punct("|", 1):
            self.advance()
            if start.text == "print":
                source = self.print_source(start.pos)
            elif start.text == "datatable":
                source = self.datatable_source(start.pos)
            else:
                source = self.range_source(start.pos)
        elif self.at_punct("("):
            self.advance()
            source = self.query()
            self.expect_punct(")")
        elif start.kind is TokenKind.IDENT:
            if start.text in _UNSUPPORTED_SOURCES:
                raise KqlError(
                    f"operator '{start.text}' is not supported by the local query engine",
                    start.pos,
                )
            self.advance()
            source = ast.TableRef(start.text, start.pos)
        else:
            raise self.fail("a table name")
        return self.rest_of_query(source, [], start.pos)

    def rest_of_query(
        self,
        source: ast.TableRef | ast.Query | ast.Union | ast.Print | ast.DataTable | ast.Range,
        operators: list[ast.Operator],
        pos: int,
    ) -> ast.Query:
        while self.at_punct("|"):
            self.advance()
            operator = self.operator()
            if operator is None:  # render: accepted only as the final operator
                if self.at_punct("|"):
                    raise KqlError("'render' must be the last operator", self.peek().pos)
                break
            operators.append(operator)
        return ast.Query(source, tuple(operators), pos)

    # --- tabular operators ----------------------------------------------------------------------

    def operator_name(self) -> Token:
        """Read an operator name, gluing hyphenated names such as ``project-away`` back together."""
        first = self.expect_ident("an operator name")
        name, end = first.text, first.end
        while (
            self.at_punct("-")
            and self.adjacent(0)
            and self.peek(1).kind is TokenKind.IDENT
            and self.adjacent(1)
        ):
            self.advance()
            part = self.advance()
            name, end = f"{name}-{part.text}", part.end
        return Token(TokenKind.IDENT, name, name, first.pos, end)

    def operator(self) -> ast.Operator | None:
        token = self.operator_name()
        name, pos = token.text, token.pos
        if name in ("where", "filter"):
            return ast.Where(self.expr(), pos)
        if name == "project":
            return ast.Project(self.named_list(), pos)
        if name == "project-away":
            return ast.ProjectAway(self.pattern_list(), pos)
        if name == "project-keep":
            return ast.ProjectKeep(self.pattern_list(), pos)
        if name == "getschema":
            return ast.GetSchema(pos)
        if name == "project-rename":
            return ast.ProjectRename(self.rename_list(), pos)
        if name == "extend":
            return ast.Extend(self.named_list(), pos)
        if name == "summarize":
            return self.summarize(pos)
        if name in ("order", "sort"):
            self.expect_word("by")
            keys = [self.sort_key()]
            while self.at_punct(","):
                self.advance()
                keys.append(self.sort_key())
            return ast.Sort(tuple(keys), pos)
        if name == "top":
            count = self.expr()
            self.expect_word("by")
            return ast.Top(count, self.sort_key(), pos)
        if name in ("take", "limit"):
            return ast.Take(self.expr(), pos)
        if name == "count":
            return ast.Count(pos)
        if name == "distinct":
            if self.at_punct("*"):
                self.advance()
                return ast.Distinct((), pos)
            return ast.Distinct(self.column_list(), pos)
        if name == "join":
            return self.join(pos)
        if name == "union":
            return self.union(pos)
        if name == "search":
            return self.search_predicate(pos)
        if name == "render":
            self.render = self.render_hint()
            return None
        if name == "parse":
            return self.parse_operator(pos)
        if name in ("mv-expand", "mvexpand"):
            return self.mv_expand(pos)
        if name == "make-series":
            return self.make_series(pos)
        if name == "lookup":
            join = self.join(pos)
            if join.kind not in ("leftouter", "inner", "innerunique"):
                raise KqlError(f"lookup kind must be leftouter or inner, not '{join.kind}'", pos)
            kind = "inner" if join.kind == "inner" else "leftouter"
            return ast.Lookup(kind, join.right, join.conditions, pos)
        if name == "serialize":
            items = () if self.at_end_of_operator() else self.named_list()
            return ast.Serialize(items, pos)
        if name == "evaluate":
            return self.evaluate_operator(pos)
        if name == "project-reorder":
            return self.project_reorder(pos)
        if name in _UNSUPPORTED_OPERATORS:
            raise KqlError(f"operator '{name}' is not supported by the local query engine", pos)
        raise KqlError(f"unknown operator '{name}'", pos)

    def pattern_list(self) -> tuple[ast.ColumnRef, ...]:
        columns = [self.column_pattern()]
        while self.at_punct(","):
            self.advance()
            columns.append(self.column_pattern())
        return tuple(columns)

    def column_list(self) -> tuple[ast.ColumnRef, ...]:
        columns = [self.column()]
        while self.at_punct(","):
            self.advance()
            columns.append(self.column())
        return tuple(columns)

    def rename_list(self) -> tuple[tuple[str, ast.ColumnRef], ...]:
        renames: list[tuple[str, ast.ColumnRef]] = []
        while True:
            new_name = self.expect_ident("a new column name")
            self.expect_punct("=")
            renames.append((new_name.text, self.column()))
            if not self.at_punct(","):
                return tuple(renames)
            self.advance()

    def summarize(self, pos: int) -> ast.Summarize:
        aggregates: tuple[ast.NamedExpr, ...] = ()
        if not self.at_word("by"):
            aggregates = self.named_list()
        by: tuple[ast.NamedExpr, ...] = ()
        if self.at_word("by"):
            self.advance()
            by = self.named_list()
        elif not aggregates:
            raise self.fail("an aggregation or 'by'")
        return ast.Summarize(aggregates, by, pos)

    def sort_key(self) -> ast.SortKey:
        expr = self.expr()
        descending = True
        if self.at_word("asc") or self.at_word("desc"):
            descending = self.advance().text == "desc"
        nulls_first = not descending
        if self.at_word("nulls"):
            self.advance()
            if not (self.at_word("first") or self.at_word("last")):
                raise self.fail("'first' or 'last'")
            nulls_first = self.advance().text == "first"
        return ast.SortKey(expr, descending, nulls_first)

    def join(self, pos: int) -> ast.Join:
        kind = "innerunique"
        if self.at_word("kind"):
            self.advance()
            self.expect_punct("=")
            kind_token = self.expect_ident("a join kind")
            if kind_token.text not in _JOIN_KINDS:
                raise KqlError(f"unknown join kind '{kind_token.text}'", kind_token.pos)
            kind = _JOIN_KINDS[kind_token.text]
        if self.at_punct("("):
            self.advance()
            right = self.query()
            self.expect_punct(")")
        elif self.peek().kind is TokenKind.IDENT and not self.at_word("on"):
            table = self.advance()
            right = ast.Query(ast.TableRef(table.text, table.pos), (), table.pos)
        else:
            raise self.fail("'(' or a table name")
        self.expect_word("on")
        conditions = [self.join_condition()]
        while self.at_punct(",") or self.at_word("and"):
            self.advance()
            conditions.append(self.join_condition())
        return ast.Join(kind, right, tuple(conditions), pos)

    def join_side(self) -> tuple[str, ast.ColumnRef]:
        side = self.peek()
        if not (self.at_word("$left") or self.at_word("$right")):
            raise self.fail("'$left' or '$right'")
        self.advance()
        self.expect_punct(".")
        column = self.expect_ident("a column name")
        return side.text, ast.ColumnRef(column.text, column.pos)

    def join_condition(self) -> ast.JoinCondition:
        if not (self.at_word("$left") or self.at_word("$right")):
            column = self.column()
            return ast.JoinCondition(column, column)
        first_side, first = self.join_side()
        self.expect_punct("==")
        second_pos = self.peek().pos
        second_side, second = self.join_side()
        if first_side == second_side:
            raise KqlError("a join condition must compare $left with $right", second_pos)
        if first_side == "$left":
            return ast.JoinCondition(first, second)
        return ast.JoinCondition(second, first)


def parse(text: str) -> ast.Script:
    """Parse query text into a :class:`~.syntax.Script`.

    Raises:
        KqlError: With the offset of the first token that does not fit the grammar.
    """
    return _QueryParser(tokenize(text)).script()
