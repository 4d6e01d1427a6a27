"""Docker's Dockerfile word lexer: quotes, the escape token and ``$VAR`` substitution.

Used for the instructions Docker expands (ADD, ARG, COPY, ENV, EXPOSE, FROM,
LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR). As in Moby's ``shell/lex.go``:
single quotes are literal, double quotes allow ``$`` expansion and escape only
``"``, ``$`` and the escape token; ``${VAR:-word}``, ``${VAR-word}``,
``${VAR:+word}``, ``${VAR+word}``, ``${VAR:?msg}`` and ``${VAR?msg}`` work like
the POSIX shell's. When splitting into words, text from an unquoted expansion
is split on whitespace, quoted text is not.
"""

from __future__ import annotations

from typing import Mapping

from berth.errors import InvalidArgument

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class _Words:
    """Collects characters into words; ``raw`` characters (quoted) never split a word."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current = ""
        self.in_word = False

    def add(self, ch: str, raw: bool) -> None:
        if not raw and ch.isspace():
            if self.in_word:
                self.words.append(self.current)
                self.current, self.in_word = "", False
            return
        self.current += ch
        self.in_word = True

    def mark(self) -> None:
        """An empty quoted string still makes a word (``""``)."""
        self.in_word = True

    def result(self) -> list[str]:
        return self.words + ([self.current] if self.in_word else [])


class Lexer:
    """Expands and unquotes words with escape token ``escape`` (``\\`` or backtick)."""

    def __init__(self, escape: str = "\\"):
        self.escape = escape

    def process_word(self, text: str, env: Mapping[str, str]) -> str:
        """``text`` with quotes removed and variables substituted, as one word."""
        out, _ = self._process(text, env, split=False)
        return out

    def process_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """``text`` substituted and split into words on unquoted whitespace."""
        _, words = self._process(text, env, split=True)
        return words

    # -- the scanner ---------------------------------------------------------------

    def _process(self, text: str, env: Mapping[str, str], split: bool) -> tuple[str, list[str]]:
        self.text, self.pos, self.env = text, 0, env
        out, words = self._until("", split)
        return out, words

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        ch = self._peek()
        self.pos += 1 if ch else 0
        return ch

    def _until(self, stop: str, split: bool) -> tuple[str, list[str]]:
        """Scan until ``stop`` (consumed) or the end; return the text and its words."""
        out = []
        words = _Words()
        while True:
            ch = self._peek()
            if not ch:
                if stop:
                    raise InvalidArgument(f"unexpected end of text in {self.text!r}: missing {stop!r}")
                break
            if stop and ch == stop:
                self._next()
                break
            if ch in ("'", '"'):
                self._next()
                chunk = self._single_quoted() if ch == "'" else self._double_quoted()
                out.append(chunk)
                words.mark()
                for c in chunk:
                    words.add(c, True)
            elif ch == "$":
                chunk = self._dollar()
                out.append(chunk)
                for c in chunk:
                    words.add(c, False)
            elif ch == self.escape:
                self._next()
                nxt = self._next()
                chunk = nxt if nxt else self.escape  # a trailing escape stays literal
                out.append(chunk)
                for c in chunk:
                    words.add(c, True)
            else:
                self._next()
                out.append(ch)
                words.add(ch, False)
        return "".join(out), words.result()

    def _single_quoted(self) -> str:
        chars = []
        while True:
            ch = self._next()
            if not ch:
                raise InvalidArgument(f"unexpected end of text in {self.text!r}: missing closing single quote")
            if ch == "'":
                return "".join(chars)
            chars.append(ch)

    def _double_quoted(self) -> str:
        chars = []
        while True:
            ch = self._peek()
            if not ch:
                raise InvalidArgument(f"unexpected end of text in {self.text!r}: missing closing double quote")
            if ch == '"':
                self._next()
                return "".join(chars)
            if ch == "$":
                chars.append(self._dollar())
                continue
            self._next()
            if ch == self.escape and self._peek() in ('"', "$", self.escape) and self._peek():
                ch = self._next()
            chars.append(ch)

    def _name(self) -> str:
        name = ""
        while self._peek() and self._peek() in _NAME_CHARS:
            name += self._next()
        return name

    def _dollar(self) -> str:
        self._next()  # the "$"
        if self._peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self._next()
        name = self._name()
        if not name:
            raise InvalidArgument(f"bad substitution in {self.text!r}: expected a variable name after '${{'")
        ch = self._next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self._next()
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({ch or 'end of text'}) in substitution {self.text!r}; "
                                  "use ${VAR:-default}, ${VAR:+alternative} or ${VAR:?message}")
        word, _ = self._until("}", split=False)
        value = self.env.get(name)
        present = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if present else word  # type: ignore[return-value]
        if ch == "+":
            return word if present else ""
        if not present:
            raise InvalidArgument(f"{name}: {word or 'is not set'}")
        return value  # type: ignore[return-value]


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (Docker's ``parseWords``).

    ENV, LABEL and ARG split their ``key=value`` pairs this way, then substitute
    each pair as one word.
    """
    words: list[str] = []
    current = ""
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and quote != "'" and i + 1 < len(text):
            current += ch + text[i + 1]
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
            current += ch
        elif ch in ("'", '"'):
            quote = ch
            current += ch
        elif ch.isspace():
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
        i += 1
    if current:
        words.append(current)
    return words
