"""A small evaluator of Terraform expressions, enough for the tests to run the modules' own
validations, preconditions and locals on chosen inputs (no terraform binary is needed).

It knows literals, template strings with ${...}, var./local./each. references, attribute and
index access, lists, objects, [for ...] expressions, the usual operators, the conditional
operator, and the built-in functions the modules use. Anything else raises, so a test cannot
pass by evaluating something it does not understand."""

from __future__ import annotations

import hashlib
import json
import re

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?)
      | (?P<str>")
      | (?P<op>==|!=|<=|>=|&&|\|\||=>|[-+*/%<>!?:.,()\[\]{}=])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.X,
)


class HclError(Exception):
    pass


def _regex(pattern: str, value: str):
    m = re.search(pattern, value)
    if m is None:
        raise HclError(f"regex {pattern!r} does not match {value!r}")
    if m.re.groupindex:
        return m.groupdict()
    if m.re.groups:
        return list(m.groups())
    return m.group(0)


def _replace(value: str, search: str, replacement: str) -> str:
    if len(search) >= 2 and search.startswith("/") and search.endswith("/"):
        return re.sub(search[1:-1], replacement.replace("$", "\\"), value)
    return value.replace(search, replacement)


def _can(thunk):
    try:
        thunk()
        return True
    except (HclError, KeyError, IndexError, TypeError, ValueError):
        return False


def _coalesce(*values):
    for v in values:
        if v is not None and v != "":
            return v
    raise HclError("coalesce: no non-empty value")


FUNCTIONS = {
    "lower": str.lower,
    "upper": str.upper,
    "length": len,
    "substr": lambda s, o, n: s[int(o) : int(o) + int(n)] if n >= 0 else s[int(o) :],
    "replace": _replace,
    "trim": lambda s, chars: s.strip(chars),
    "coalesce": _coalesce,
    "sha256": lambda s: hashlib.sha256(s.encode()).hexdigest(),
    "concat": lambda *ls: [x for lst in ls for x in lst],
    "alltrue": lambda xs: all(xs),
    "anytrue": lambda xs: any(xs),
    "contains": lambda xs, v: v in xs,
    "regex": _regex,
    "startswith": lambda s, p: s.startswith(p),
    "endswith": lambda s, p: s.endswith(p),
    "compact": lambda xs: [x for x in xs if x not in ("", None)],
    "jsonencode": lambda v: json.dumps(v, separators=(",", ":")),
    "nonsensitive": lambda v: v,
    "sensitive": lambda v: v,
    "min": min,
    "max": max,
    "tostring": str,
    "keys": lambda m: sorted(m),
    "sort": sorted,
    "merge": lambda *ms: {k: v for m in ms for k, v in m.items()},
    "values": lambda m: [m[k] for k in sorted(m)],
    "distinct": lambda xs: list(dict.fromkeys(xs)),
    "flatten": lambda xs: [y for x in xs for y in (x if isinstance(x, list) else [x])],
    "join": lambda sep, xs: sep.join(xs),
    "split": lambda sep, s: s.split(sep),
    "format": lambda f, *a: f.replace("%s", "{}").replace("%d", "{}").format(*a),
    "try": None,  # handled lazily
    "can": None,  # handled lazily
}


class _Parser:
    def __init__(self, text: str, env: dict):
        self.text = text
        self.pos = 0
        self.env = env

    # ------------------------------------------------------------------ tokens
    def _peek(self):
        m = _TOKEN.match(self.text, self.pos)
        if not m or m.end() == m.start() and self.pos < len(self.text):
            if self.text[self.pos :].strip() == "":
                return None, None, self.pos
            raise HclError(f"cannot read {self.text[self.pos:self.pos + 20]!r}")
        kind = m.lastgroup
        return kind, m.group(kind), m.end()

    def _next(self):
        kind, value, end = self._peek()
        if kind is None:
            raise HclError("unexpected end of expression")
        self.pos = end
        return kind, value

    def _accept(self, op):
        kind, value, end = self._peek()
        if kind == "op" and value == op:
            self.pos = end
            return True
        return False

    def _expect(self, op):
        if not self._accept(op):
            raise HclError(f"expected {op!r} at {self.text[self.pos:self.pos + 20]!r}")

    # ------------------------------------------------------------------ grammar
    def parse(self):
        value = self.expr()
        if self.text[self.pos :].strip():
            raise HclError(f"trailing text {self.text[self.pos:]!r}")
        return value

    def expr(self):
        cond = self.binary(0)
        if self._accept("?"):
            # Terraform evaluates only the chosen branch (unlike && and ||, which evaluate both).
            if cond:
                a = self.expr()
                self._expect(":")
                self._skip(stop=",)]}")
                return a
            self._skip(stop=":")
            self._expect(":")
            return self.expr()
        return cond

    def _skip(self, stop: str):
        """Moves past one expression without evaluating it: up to a top-level character of stop
        (a nested "a ? b : c" keeps its own ":")."""
        depth = 0
        pending_colons = 0
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == '"':
                self._skip_string()
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    return
                depth -= 1
            elif depth == 0 and c == "?":
                pending_colons += 1
            elif depth == 0 and c == ":" and pending_colons:
                pending_colons -= 1
            elif depth == 0 and c in stop:
                return
            self.pos += 1

    def _skip_string(self):
        self.pos += 1
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\":
                self.pos += 2
            elif c == '"':
                self.pos += 1
                return
            elif self.text.startswith("${", self.pos):
                self.pos += 2
                self._skip(stop="")
                self.pos += 1  # the closing brace
            else:
                self.pos += 1

    _LEVELS = [("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%")]

    def binary(self, level):
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            kind, value, end = self._peek()
            if kind == "op" and value in self._LEVELS[level]:
                self.pos = end
                right = self.binary(level + 1)
                left = {
                    "||": lambda a, b: a or b,
                    "&&": lambda a, b: a and b,
                    "==": lambda a, b: a == b,
                    "!=": lambda a, b: a != b,
                    "<": lambda a, b: a < b,
                    "<=": lambda a, b: a <= b,
                    ">": lambda a, b: a > b,
                    ">=": lambda a, b: a >= b,
                    "+": lambda a, b: a + b,
                    "-": lambda a, b: a - b,
                    "*": lambda a, b: a * b,
                    "/": lambda a, b: a / b,
                    "%": lambda a, b: a % b,
                }[value](left, right)
            else:
                return left

    def unary(self):
        if self._accept("!"):
            return not self.unary()
        if self._accept("-"):
            return -self.unary()
        return self.postfix(self.primary())

    def postfix(self, value):
        while True:
            if self._accept("."):
                _, name = self._next()
                value = value[name] if isinstance(value, dict) else getattr(value, name)
            elif self._accept("["):
                index = self.expr()
                self._expect("]")
                value = value[int(index) if isinstance(value, list) else index]
            else:
                return value

    def primary(self):
        kind, value = self._next()
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "str":
            return self.template()
        if kind == "op" and value == "(":
            v = self.expr()
            self._expect(")")
            return v
        if kind == "op" and value == "[":
            return self.list_or_for()
        if kind == "op" and value == "{":
            return self.object()
        if kind == "name":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self._accept("("):
                return self.call(value)
            if value in ("var", "local", "each", "module", "data") or value in self.env:
                root = self.env[value]
                return root
            raise HclError(f"unknown name {value}")
        raise HclError(f"unexpected {value!r}")

    def template(self):
        out = []
        parts = []
        while True:
            c = self.text[self.pos]
            if c == '"':
                self.pos += 1
                break
            if c == "\\":
                esc = self.text[self.pos + 1]
                out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}[esc])
                self.pos += 2
            elif self.text.startswith("${", self.pos):
                self.pos += 2
                v = self.expr()
                self._expect("}")
                out.append(v if isinstance(v, str) else json.dumps(v) if isinstance(v, bool) else str(v))
            else:
                out.append(c)
                self.pos += 1
        parts.append("".join(out))
        return "".join(parts)

    def _skip_expr(self):
        """Parses an expression without evaluating it, for lazily evaluated arguments."""
        start = self.pos
        depth = 0
        in_str = False
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if in_str:
                if c == "\\":
                    self.pos += 2
                    continue
                if c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            self.pos += 1
        return self.text[start : self.pos]

    def call(self, name):
        if name in ("can", "try"):
            texts = []
            while not self._accept(")"):
                texts.append(self._skip_expr())
                self._accept(",")
            if name == "can":
                return _can(lambda: _Parser(texts[0], self.env).parse())
            for t in texts:
                try:
                    return _Parser(t, self.env).parse()
                except (HclError, KeyError, IndexError, TypeError, ValueError):
                    continue
            raise HclError("try: every argument failed")
        if name not in FUNCTIONS:
            raise HclError(f"unknown function {name}")
        args = []
        while not self._accept(")"):
            args.append(self.expr())
            if self._accept("..."):
                args.extend(args.pop())
            self._accept(",")
        return FUNCTIONS[name](*args)

    def list_or_for(self):
        kind, value, _ = self._peek()
        if kind == "name" and value == "for":
            self._next()
            names = [self._next()[1]]
            if self._accept(","):
                names.append(self._next()[1])
            _, kw = self._next()
            if kw != "in":
                raise HclError("expected in")
            collection = self.expr()
            self._expect(":")
            body_start = self.pos
            items = collection.items() if isinstance(collection, dict) else enumerate(collection)
            out = []
            end = None
            for k, v in items:
                env = dict(self.env)
                if len(names) == 2:
                    env[names[0]], env[names[1]] = k, v
                else:
                    env[names[0]] = v
                sub = _Parser(self.text, env)
                sub.pos = body_start
                value = sub.expr()
                keep = True
                if sub._accept("if"):
                    pass
                kind2, word, end2 = sub._peek()
                if kind2 == "name" and word == "if":
                    sub.pos = end2
                    keep = sub.expr()
                sub._expect("]")
                end = sub.pos
                if keep:
                    out.append(value)
            if end is None:  # empty collection: skip the body without evaluating it
                depth = 1
                while depth:
                    c = self.text[self.pos]
                    depth += c in "[({"
                    depth -= c in "])}"
                    self.pos += 1
            else:
                self.pos = end
            return out
        items = []
        while not self._accept("]"):
            items.append(self.expr())
            self._accept(",")
        return items

    def object(self):
        kind, value, _ = self._peek()
        if kind == "name" and value == "for":
            return self._object_for()
        out = {}
        while not self._accept("}"):
            kind, key = self._next()
            if kind == "str":
                key = self.template()
            if not (self._accept("=") or self._accept(":")):
                raise HclError("expected = in object")
            out[key] = self.expr()
            self._accept(",")
        return out


def _object_for_impl(self):
    self._next()
    names = [self._next()[1]]
    if self._accept(","):
        names.append(self._next()[1])
    if self._next()[1] != "in":
        raise HclError("expected in")
    collection = self.expr()
    self._expect(":")
    body_start = self.pos
    items = collection.items() if isinstance(collection, dict) else enumerate(collection)
    out = {}
    end = None
    for k, v in items:
        env = dict(self.env)
        if len(names) == 2:
            env[names[0]], env[names[1]] = k, v
        else:
            env[names[0]] = v
        sub = _Parser(self.text, env)
        sub.pos = body_start
        key = sub.expr()
        sub._expect("=>")
        value = sub.expr()
        sub._expect("}")
        end = sub.pos
        out[key] = value
    if end is None:
        self._skip(stop="")
        self._expect("}")
    else:
        self.pos = end
    return out


_Parser._object_for = _object_for_impl


class Namespace(dict):
    """var./local. namespaces: attribute access on a dict."""


def evaluate(expression, env: dict):
    """Evaluates one value as python-hcl2 hands it over: "${...}" for an expression, a plain
    string for a template with interpolations, or a literal."""
    if not isinstance(expression, str):
        if isinstance(expression, list):
            return [evaluate(e, env) for e in expression]
        if isinstance(expression, dict):
            return {k: evaluate(v, env) for k, v in expression.items() if k != "__comments__"}
        return expression
    if expression.startswith("${"):
        p = _Parser(expression, env)
        p.pos = 2
        value = p.expr()
        p._expect("}")
        if p.pos == len(expression):
            return value
    if "${" not in expression:
        return expression
    return _Parser(expression + '"', env).template()


def resolve_locals(locals_block: dict, env: dict, names=None) -> dict:
    """Evaluates the module's locals (in dependency order, by retrying) into env["local"]."""
    env.setdefault("local", {})
    pending = dict(locals_block) if names is None else {n: locals_block[n] for n in names}
    while pending:
        progressed = False
        for name, expr in list(pending.items()):
            try:
                env["local"][name] = evaluate(expr, env)
            except (KeyError, HclError):
                continue
            del pending[name]
            progressed = True
        if not progressed:
            raise HclError(f"cannot evaluate locals {sorted(pending)}")
    return env["local"]
