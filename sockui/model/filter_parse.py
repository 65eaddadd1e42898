"""Filter expression syntax (docs/spec.md section 7): tokens and a tree; filters.py gives words meaning."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass
from typing import Literal

from sockui.model.kernel import TCP_STATE_NAMES
from sockui.model.socket import Binding, Family, Proto

#: Deeper nesting is refused so that a hostile expression cannot exhaust the recursion limit.
MAX_DEPTH = 64


class FilterError(ValueError):
    """A filter expression that cannot be parsed, with where the problem is, for a caret under it."""

    message: str
    column: int
    length: int

    def __init__(self, message: str, column: int, length: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.column = max(column, 0)
        self.length = max(length, 1)

    def render(self, expr: str) -> str:
        """The message, the expression indented by two spaces and a caret line under the bad columns.

        Control characters show as '?' and wide characters count two cells, so that the caret lands
        under what a terminal actually draws.
        """
        col = min(self.column, len(expr))
        pad = sum(_cells(c) for c in expr[:col])
        carets = max(1, sum(_cells(c) for c in expr[col : col + self.length]))
        shown = "".join(_visible(c) for c in expr)
        return f"{''.join(_visible(c) for c in self.message)}\n  {shown}\n  {' ' * pad}{'^' * carets}"


def _visible(char: str) -> str:
    return char if char.isprintable() else "?"


def _cells(char: str) -> int:
    """Terminal cells a character takes once made visible: 0 for combining marks, 2 for wide ones."""
    if not char.isprintable():
        return 1
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def show_text(text: str) -> str:
    """Quote user text for a message: visible, and short enough to keep the message on one line."""
    text = "".join(_visible(c) for c in text)
    return repr(text if len(text) <= 40 else text[:39] + "…")


# --- tokens -----------------------------------------------------------------------------------------

TokenKind = Literal["word", "and", "or", "not", "(", ")", "op", "end"]


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical unit; ``col``/``length`` span its source text (quotes included)."""

    kind: TokenKind
    text: str
    col: int
    length: int
    quoted: bool = False

    @property
    def end(self) -> int:
        """Offset just past the token."""
        return self.col + self.length


# Characters that end an unquoted word: "port=443" and "dport!=22" must split without spaces.
_SPECIAL = frozenset("()\"'=<>!&|")
_OPS = ("==", "!=", "<=", ">=", "=", "<", ">")
_LOGIC: dict[str, TokenKind] = {"and": "and", "or": "or", "not": "not"}


def tokenize(expr: str) -> list[Token]:
    """Split ``expr`` into tokens, ending with an ``end`` token; raise FilterError on a bad character."""
    tokens: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch == "(" or ch == ")":
            tokens.append(Token("(" if ch == "(" else ")", ch, i, 1))
            i += 1
        elif ch in "\"'":
            tokens.append(_quoted(expr, i))
            i = tokens[-1].end
        elif ch in "&|":
            word = "and" if ch == "&" else "or"
            if not expr.startswith(ch * 2, i):
                raise FilterError(f"unexpected '{ch}' (write '{ch * 2}' or '{word}')", i)
            tokens.append(Token(_LOGIC[word], ch * 2, i, 2))
            i += 2
        elif ch in "=<>!":
            op = next((o for o in _OPS if expr.startswith(o, i)), "!")
            tokens.append(Token("not" if op == "!" else "op", op, i, len(op)))
            i += len(op)
        elif not ch.isprintable():
            raise FilterError(f"unexpected control character (U+{ord(ch):04X})", i)
        else:
            j = i + 1
            while j < n and _word_char(expr, j):
                j += 1
            text = expr[i:j]
            tokens.append(Token(_LOGIC.get(text.lower(), "word"), text, i, j - i))
            i = j
    tokens.append(Token("end", "", n, 1))
    return tokens


def _word_char(expr: str, j: int) -> bool:
    c = expr[j]
    if c.isspace() or not c.isprintable():
        return False
    # '!' right after '[' is fnmatch's negated class ("proc [!n]ginx"), not a 'not'.
    return c not in _SPECIAL or (c == "!" and expr[j - 1] == "[")


def _quoted(expr: str, start: int) -> Token:
    """A quoted word; backslash escapes only the quote and itself so Windows-ish paths stay literal."""
    quote, chars, j = expr[start], [], start + 1
    while j < len(expr):
        c = expr[j]
        if c == "\\" and expr[j + 1 : j + 2] in (quote, "\\"):
            chars.append(expr[j + 1])
            j += 2
        elif c == quote:
            if not chars:
                raise FilterError("empty quotes: nothing to match", start, j + 1 - start)
            return Token("word", "".join(chars), start, j + 1 - start, quoted=True)
        elif not c.isprintable():
            raise FilterError(f"unexpected control character (U+{ord(c):04X})", j)
        else:
            chars.append(c)
            j += 1
    raise FilterError(f"missing closing {quote} for this quote", start)


# --- tree -------------------------------------------------------------------------------------------

End = Literal["local", "remote", "either"]
Field = Literal["state", "port", "pid", "proc", "user", "path", "addr", "inode", "netns", "container"]


@dataclass(frozen=True, slots=True)
class Everything:
    """The empty expression: matches every socket."""


@dataclass(frozen=True, slots=True)
class AllOf:
    """``a and b and ...`` (also juxtaposition)."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """``a or b or ...``."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``not a``."""

    item: Node


@dataclass(frozen=True, slots=True)
class Is:
    """A keyword test on an enum field: ``tcp``, ``ipv6``, ``listening``..."""

    attr: Literal["proto", "family", "binding"]
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class Test:
    """``KEYWORD [OP] ARG``. The argument stays a token: filters.py gives it meaning, and its column.

    ``op`` is one of ``== != < > <= >=``; "!=" means "the field exists and does not match", so that
    ``dport != 22`` does not match a socket with no remote end.
    """

    field: Field
    end: End
    op: str
    arg: Token


@dataclass(frozen=True, slots=True)
class Search:
    """A bare word: searched in addresses, ports, process names and paths (see filters.py)."""

    word: str


Node = Everything | AllOf | AnyOf | Not | Is | Test | Search

_FLAGS: dict[str, Is] = {
    **{p.value: Is("proto", frozenset({p})) for p in Proto},
    **dict.fromkeys(("ipv4", "inet4", "ip4", "v4"), Is("family", frozenset({Family.IPV4}))),
    **dict.fromkeys(("ipv6", "inet6", "ip6", "v6"), Is("family", frozenset({Family.IPV6}))),
    "inet": Is("family", frozenset({Family.IPV4, Family.IPV6})),
    **{b.value: Is("binding", frozenset({b})) for b in Binding},
    "listen": Is("binding", frozenset({Binding.LISTENING})),
}

# keyword -> (field, end, what the argument is, for "expected ... after 'kw'")
_KEYWORDS: dict[str, tuple[Field, End, str]] = {
    "state": ("state", "either", "a state name"),
    "port": ("port", "either", "a port"),
    "sport": ("port", "local", "a port"),
    "dport": ("port", "remote", "a port"),
    "addr": ("addr", "either", "an address"),
    "src": ("addr", "local", "an address"),
    "dst": ("addr", "remote", "an address"),
    "pid": ("pid", "either", "a process id"),
    "proc": ("proc", "either", "a process name"),
    "process": ("proc", "either", "a process name"),
    "user": ("user", "either", "a user name or uid"),
    "uid": ("user", "either", "a user name or uid"),
    "path": ("path", "either", "a path"),
    "inode": ("inode", "either", "an inode number"),
    "ino": ("inode", "either", "an inode number"),
    "netns": ("netns", "either", "a network namespace label"),
    "ns": ("netns", "either", "a network namespace label"),
    "container": ("container", "either", "a container label"),
}
_NUMERIC = frozenset({"port", "pid", "inode"})

#: Every TCP state name is also a word of its own ("established", "time-wait", "close_wait"):
#: normalised (upper case, no '-' or '_') -> the kernel's spelling.
_STATE_WORDS = {name.replace("_", ""): name for name in TCP_STATE_NAMES.values()} | {
    "SYNRECEIVED": "SYN_RECV",
    "FINWAIT1": "FIN_WAIT1",
    "FINWAIT2": "FIN_WAIT2",
}


def state_word(text: str) -> str | None:
    """The state a bare word names (``established``, ``time-wait``), or None."""
    return _STATE_WORDS.get(text.upper().replace("-", "").replace("_", ""))


@dataclass(frozen=True, slots=True)
class FilterWarning:
    """Something the parser accepted but the user probably did not mean (a misspelt keyword)."""

    message: str
    column: int
    length: int = 1


def parse_tree(expr: str) -> Node:
    """Parse ``expr`` into a tree; a blank expression is :class:`Everything`. Raises FilterError."""
    return _Parser(expr).parse()


def parse_tree_with_warnings(expr: str) -> tuple[Node, tuple[FilterWarning, ...]]:
    """Like :func:`parse_tree`, plus what looked like a mistake (kept, searched as text)."""
    parser = _Parser(expr)
    node = parser.parse()
    return node, tuple(parser.warnings)


class _Parser:
    """Recursive descent, precedence ``not`` > ``and`` (or juxtaposition) > ``or``.

    Methods take ``after``, the token before the operand they parse (an operator or '('), only to
    say what was left dangling when the operand is missing.
    """

    def __init__(self, expr: str) -> None:
        self.tokens = tokenize(expr)
        self.pos = 0
        self.depth = 0
        self.warnings: list[FilterWarning] = []

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "end":
            return Everything()
        node = self.or_expr(None)
        if self.peek().kind != "end":
            raise _unexpected(self.peek())
        return node

    def or_expr(self, after: Token | None) -> Node:
        items = [self.and_expr(after)]
        while self.peek().kind == "or":
            items.append(self.and_expr(self.take()))
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def and_expr(self, after: Token | None) -> Node:
        items = [self.not_expr(after)]
        while True:
            kind = self.peek().kind
            if kind == "and":
                items.append(self.not_expr(self.take()))
            elif kind in ("word", "(", "not"):
                items.append(self.not_expr(None))
            else:
                return items[0] if len(items) == 1 else AllOf(tuple(items))

    def not_expr(self, after: Token | None) -> Node:
        # Iterative so that "not not not ..." cannot recurse deeply; pairs cancel out.
        negate = False
        while self.peek().kind == "not":
            after = self.take()
            negate = not negate
        node = self.primary(after)
        return Not(node) if negate else node

    def primary(self, after: Token | None) -> Node:
        tok = self.peek()
        if tok.kind == "word":
            return self.word(self.take())
        if tok.kind == "(":
            return self.group(self.take())
        if tok.kind == ")" and after is not None and after.kind == "(":
            raise FilterError("empty parentheses", after.col, tok.end - after.col)
        if tok.kind in ("and", "or"):
            raise FilterError(f"expected a filter before '{tok.text}'", tok.col, tok.length)
        if after is not None and after.kind in ("and", "or", "not") and tok.kind != "op":
            raise FilterError(f"expected a filter after '{after.text}'", after.col, after.length)
        if after is not None and after.kind == "(" and tok.kind == "end":
            raise FilterError("missing ')' for this '('", after.col)
        raise _unexpected(tok)

    def group(self, opening: Token) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"too many nested parentheses (at most {MAX_DEPTH})", opening.col)
        node = self.or_expr(opening)
        tok = self.peek()
        if tok.kind == "end":
            raise FilterError("missing ')' for this '('", opening.col)
        if tok.kind != ")":
            raise _unexpected(tok)
        self.take()
        self.depth -= 1
        return node

    def word(self, tok: Token) -> Node:
        if not tok.quoted:
            split = _keyword_colon(tok)
            if split is not None:
                keyword, glued = split
                if glued is not None:  # "port:8765", "proc:nginx": the keyword, then its argument
                    return self.keyword_test(keyword, None, glued)
                # "port: 8765", "proc:'my app'", "port:": the colon only ends the keyword, whose
                # argument follows as it would after a blank (or is missing, which is an error).
                tok = keyword
        key = tok.text.lower()
        if tok.quoted or (key not in _FLAGS and key not in _KEYWORDS):
            if not tok.quoted:
                state = state_word(tok.text)
                if state is not None:
                    return Test("state", "either", "==", Token("word", state, tok.col, tok.length))
                self.warn_if_misspelt(tok)
            return Search(tok.text)
        if key in _FLAGS:
            return _FLAGS[key]
        op_tok = self.take() if self.peek().kind == "op" else None
        arg = self.peek()
        if arg.kind == "word":
            self.take()
        return self.keyword_test(tok, op_tok, arg)

    def keyword_test(self, tok: Token, op_tok: Token | None, arg: Token) -> Node:
        field, end, what = _KEYWORDS[tok.text.lower()]
        # Keywords are fine as arguments ("state listen", "proc tcp"); and/or/not, brackets are not.
        # The caret goes under what stands where the argument should be ("port = (": the '('), or
        # just past the input when it ended: never on the blank between, which points at nothing.
        if arg.kind != "word":
            after = f"'{tok.text}'" if op_tok is None else f"'{tok.text} {op_tok.text}'"
            raise FilterError(f"expected {what} after {after}", arg.col, arg.length)
        op = "==" if op_tok is None or op_tok.text == "=" else op_tok.text
        if op_tok is not None and op not in ("==", "!=") and field not in _NUMERIC:
            msg = f"'{op}' only compares numbers (port, sport, dport, pid, inode); use '=' or '!='"
            raise FilterError(msg, op_tok.col, op_tok.length)
        return Test(field, end, op, arg)

    def warn_if_misspelt(self, tok: Token) -> None:
        """A word that reads like a keyword followed by its argument: say what it is taken for.

        Followed by a comparison ("sprot = 22") it cannot be a search: that is an error.
        """
        word, _colon, rest = tok.text.partition(":")
        following = self.peek()
        if not word.isalpha() or not (rest or following.kind in ("word", "op")):
            return
        arg = rest or (following.text if following.kind == "word" else "")
        guess = _guess_keyword(word, numeric=arg.isdigit())
        if following.kind == "op" and not rest:
            hint = f" (did you mean {guess}?)" if guess else ""
            raise FilterError(f"unknown keyword {show_text(word)}{hint}", tok.col, tok.length)
        if guess:
            message = f"unknown keyword {show_text(word)} (did you mean {guess}?), searching text"
            self.warnings.append(FilterWarning(message, tok.col, len(word)))


def _guess_keyword(word: str, numeric: bool) -> str | None:
    """The keyword ``word`` is most likely a typo of; with a number after it, a numeric one first."""
    guesses = difflib.get_close_matches(word.lower(), _KEYWORDS, n=3, cutoff=0.6)
    if numeric:
        guesses.sort(key=lambda g: _KEYWORDS[g][0] not in _NUMERIC)  # stable: keeps closeness order
    return guesses[0] if guesses else None


def _keyword_colon(tok: Token) -> tuple[Token, Token | None] | None:
    """Split ``kw:arg`` into two tokens when ``kw`` is a keyword (columns kept for error carets).

    A bare ``kw:`` gives the keyword and None: its argument is the next token ("proc:'my app'" ends
    the word at the quote). Taken as a search instead, it warned "unknown keyword 'proc' (did you
    mean proc?)" and searched for the text "proc:".
    """
    word, colon, rest = tok.text.partition(":")
    if not colon or word.lower() not in _KEYWORDS:
        return None
    if rest.startswith(":"):
        # "src::1": the IPv6 address ::1, or "src:" with ss's ":1" (port 1)? Taken as the latter, it
        # silently matched port 1; a guess either way is wrong for someone, so ask.
        spaced = f"'{word} :{rest}' or '{word} {rest}'"
        message = f"ambiguous {show_text(tok.text)}: put a space after '{word}' ({spaced})"
        raise FilterError(message, tok.col + len(word), 2)
    keyword = Token("word", word, tok.col, len(word))
    return keyword, Token("word", rest, tok.col + len(word) + 1, len(rest)) if rest else None


def _unexpected(tok: Token) -> FilterError:
    if tok.kind == ")":
        return FilterError("')' without a matching '('", tok.col)
    if tok.kind == "op":
        msg = f"unexpected '{tok.text}': comparisons follow a keyword, as in 'port {tok.text} 443'"
        return FilterError(msg, tok.col, tok.length)
    what = show_text(tok.text) if tok.text else "end of filter"
    return FilterError(f"unexpected {what}", tok.col, tok.length)
