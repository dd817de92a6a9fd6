"""Code checks: Credo-style quality rules and Sobelow-style security rules over Elixir code.

Owns the rule catalogue (one :class:`Rule` per rule, each also a ``q:Rule`` individual in
ontologies/quality.ttl or security.ttl under ``id:rule/<category>/<name>``), the checks that
find problems (AST checks over one tree-sitter parse per file; templates by a scan of their
``<%= %>`` tags; file paths that a parameter reaches through a local variable by the KG's
per-clause data flow), and writing findings into the knowledge graph (one findings graph per source
graph, each finding tied to the innermost module or function of the KG that contains it).
The command line (``elixir-coder check``) lives in elixir_coder/commands/check.py.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pyoxigraph as ox
import tree_sitter_elixir
from tree_sitter import Language, Parser

from ontologies import EC, QUALITY, SECURITY, findings_graph_iri, rule_iri

_LANGUAGE = Language(tree_sitter_elixir.language())

# ---- the catalogue -----------------------------------------------------------------------

SEVERITIES = ("low", "medium", "high")


@dataclass(frozen=True)
class Rule:
    id: str           # "<category>/<name>", stable: CI configs and SARIF rule ids use it
    category: str     # readability | design | refactor | warning | consistency | security
    severity: str     # low | medium | high
    title: str
    description: str
    vulnerability: str | None = None  # SECURITY term name for security rules

    @property
    def iri(self) -> ox.NamedNode:
        return rule_iri(self.id)

    @property
    def is_security(self) -> bool:
        return self.vulnerability is not None


RULES: dict[str, Rule] = {r.id: r for r in [
    # quality
    Rule("readability/module-doc", "readability", "low", "Modules should have a @moduledoc",
         "A module without @moduledoc (or @moduledoc false) leaves readers without its purpose."),
    Rule("warning/io-inspect", "warning", "medium", "IO.inspect left in code",
         "IO.inspect is a debugging aid; calls left in code print in production."),
    Rule("warning/dbg", "warning", "medium", "dbg left in code",
         "dbg/0,1,2 is a debugging aid; calls left in code print in production."),
    Rule("refactor/pipe-chain-start", "refactor", "low", "Pipe chain should start with a raw value",
         "A pipe chain whose first element is a function call hides the value flowing through it."),
    Rule("refactor/unless-with-else", "refactor", "low", "unless with else",
         "unless ... else reads as a double negation; write if ... else with the branches swapped."),
    Rule("refactor/long-function", "refactor", "low", "Function body too long",
         "A function clause body longer than 40 lines is hard to follow; split it."),
    Rule("refactor/nesting", "refactor", "medium", "Code nested too deeply",
         "if/unless/case/cond/with/fn/for nested more than 2 levels deep inside a function."),
    Rule("warning/unused-private-function", "warning", "medium", "Unused private function",
         "A private function that nothing in its module calls or captures is dead code."),
    Rule("design/tag-todo", "design", "low", "TODO tag",
         "A TODO comment marks unfinished work."),
    Rule("design/tag-fixme", "design", "medium", "FIXME tag",
         "A FIXME comment marks known broken code."),
    Rule("warning/attribute-set-twice", "warning", "medium", "Module attribute set twice",
         "A module attribute given a value twice in the same module; the first value is silently replaced."),
    Rule("warning/length-compare-zero", "warning", "low", "length/1 compared with 0",
         "length/1 walks the whole list; compare with [] or use Enum.empty?/1 instead."),
    Rule("readability/single-pipe", "readability", "low", "Pipe chain of a single call",
         "x |> f() is harder to read than f(x)."),
    Rule("design/nested-module-depth", "design", "low", "Modules nested too deeply",
         "defmodule nested more than 2 levels deep inside other modules."),
    Rule("readability/large-numbers", "readability", "low", "Large number without underscores",
         "Integers above 9999 should be written with underscores (10_000)."),
    # security
    Rule("security/atom-creation", "security", "medium", "Atom created from non-literal input",
         "String.to_atom, List.to_atom and :erlang.binary_to_atom/list_to_atom on a non-literal "
         "value can exhaust the atom table.", "DenialOfService"),
    Rule("security/binary-to-term", "security", "high", ":erlang.binary_to_term on input",
         ":erlang.binary_to_term on a non-literal value can build functions and atoms from data; "
         "use Plug.Crypto.non_executable_binary_to_term or the :safe option.", "Misc"),
    Rule("security/code-eval", "security", "high", "Code evaluated from non-literal input",
         "Code.eval_string/eval_quoted/eval_file and EEx.eval_string/eval_file on a non-literal "
         "value execute whatever it holds.", "RemoteCodeExecution"),
    Rule("security/command-injection", "security", "high", "OS command from non-literal input",
         "System.cmd or :os.cmd with a command that is not a literal lets its data choose the program.",
         "CommandInjection"),
    Rule("security/sql-interpolation", "security", "high", "SQL built by string interpolation",
         "A raw SQL query (Ecto.Adapters.SQL.query, Repo.query, fragment) built by interpolation or "
         "concatenation instead of parameters.", "SQLInjection"),
    Rule("security/file-traversal", "security", "medium", "File path from a function parameter",
         "File functions, send_file and send_download with a path built from a function parameter "
         "can be pointed at any file.", "Traversal"),
    Rule("security/raw-html", "security", "medium", "raw/1 on non-literal content",
         "raw/1 marks content as safe HTML; non-literal content reaches the page unescaped.", "XSS"),
]}


@dataclass(frozen=True)
class Finding:
    file: str        # as given on the command line / relative to the checked root
    line: int        # 1-based
    column: int      # 1-based
    end_line: int
    end_column: int
    rule: str
    category: str
    severity: str
    message: str

    def as_json(self) -> dict:
        return asdict(self)


# ---- AST helpers ---------------------------------------------------------------------------

def _text(node) -> str:
    return node.text.decode("utf-8", "replace")


def _walk(node) -> Iterator:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _call_parts(node) -> tuple[str | None, str | None]:
    """(qualifier, name) of a call node: ``IO.inspect(x)`` -> ("IO", "inspect"),
    ``foo(x)`` -> (None, "foo"); (None, None) when the target is not a name (``f.(x)``)."""
    target = node.child_by_field_name("target")
    if target is None:
        return None, None
    if target.type == "identifier":
        return None, _text(target)
    if target.type == "dot":
        left, right = target.child_by_field_name("left"), target.child_by_field_name("right")
        if right is not None and right.type == "identifier" and left is not None:
            return _text(left), _text(right)
    return None, None


def _args(node) -> list:
    a = next((c for c in node.children if c.type == "arguments"), None)
    return [c for c in a.named_children] if a is not None else []


def _is_literal(node) -> bool:
    """True for values fixed at compile time: strings/charlists without interpolation,
    atoms, numbers, and lists/tuples of them."""
    t = node.type
    if t in ("string", "charlist", "sigil"):
        return not any(c.type == "interpolation" for c in node.children)
    if t in ("atom", "quoted_atom", "integer", "float", "boolean", "nil", "char"):
        return t != "quoted_atom" or not any(c.type == "interpolation" for c in node.children)
    if t in ("list", "tuple", "keywords", "pair", "keyword"):
        return all(_is_literal(c) for c in node.named_children)
    if t == "binary_operator":  # "a" <> "b"
        op = node.child_by_field_name("operator")
        return op is not None and _text(op) == "<>" and all(
            _is_literal(node.child_by_field_name(f)) for f in ("left", "right"))
    return False


def _is_interpolated(node) -> bool:
    """A string built from pieces: interpolation or ``<>`` concatenation with a non-literal."""
    if node.type in ("string", "charlist"):
        return any(c.type == "interpolation" for c in node.children)
    if node.type == "binary_operator":
        op = node.child_by_field_name("operator")
        return op is not None and _text(op) == "<>" and not _is_literal(node)
    return False


def _identifiers(node) -> set[str]:
    return {_text(n) for n in _walk(node) if n.type == "identifier"}


DEF_KINDS = {"def", "defp", "defmacro", "defmacrop"}
BLOCK_KINDS = {"if", "unless", "case", "cond", "with", "for", "try", "receive"}


def _def_head(node):
    """The head call of a def node (``f(a, b)`` in ``def f(a, b) when ...``), or None."""
    args = _args(node)
    if not args:
        return None
    head = args[0]
    if head.type == "binary_operator" and _text(head.child_by_field_name("operator")) == "when":
        head = head.child_by_field_name("left")
    return head


def _def_name(node) -> str | None:
    head = _def_head(node)
    if head is None:
        return None
    if head.type == "identifier":
        return _text(head)
    if head.type == "call":
        return _call_parts(head)[1]
    return None


def _params(node) -> set[str]:
    head = _def_head(node)
    if head is None or head.type != "call":
        return set()
    return {name for a in _args(head) for name in _identifiers(a)} - {"_"}


def _is_def(node) -> bool:
    return node.type == "call" and _call_parts(node) in ((None, k) for k in DEF_KINDS)


def _is_def_head(node) -> bool:
    """True for the head call of a def (``dbg(x)`` in ``def dbg(x)``), guards included."""
    p = node.parent
    if p is not None and p.type == "binary_operator":
        p = p.parent
    return p is not None and p.type == "arguments" and p.parent is not None and _is_def(p.parent)


def _in_attribute(node) -> bool:
    """True inside ``@spec``/``@callback``/any module attribute: names there are not calls."""
    p = node.parent
    while p is not None:
        if p.type == "unary_operator" and p.child_by_field_name("operator") is not None \
                and _text(p.child_by_field_name("operator")) == "@":
            return True
        p = p.parent
    return False


def _is_defmodule(node) -> bool:
    return node.type == "call" and _call_parts(node) == (None, "defmodule")


def _body(node):
    """The do-block or ``do:`` value of a block call."""
    for c in node.children:
        if c.type == "do_block":
            return c
    args = _args(node)
    if args and args[-1].type == "keywords":
        for pair in args[-1].named_children:
            key = pair.child_by_field_name("key")
            if key is not None and _text(key).strip().rstrip(":") == "do":
                return pair.child_by_field_name("value")
    return None


# ---- the checks ----------------------------------------------------------------------------

class _FileCheck:
    """Runs every AST rule over one parse of one file."""

    def __init__(self, path: str, src: bytes, tree):
        self.path, self.src, self.root = path, src, tree.root_node
        self.findings: list[Finding] = []
        self.flow_candidates: list[_FlowCandidate] = []

    def add(self, rule_id: str, node, message: str, start=None, end=None) -> None:
        r = RULES[rule_id]
        (sl, sc), (el, ec) = start or node.start_point, end or node.end_point
        self.findings.append(Finding(self.path, sl + 1, sc + 1, el + 1, ec + 1, r.id, r.category,
                                     r.severity, message))

    def run(self) -> list[Finding]:
        self._comments()
        if not self.root.has_error:
            # module-wide rules (missing @moduledoc, unused defp...) need the module's true
            # extent, which a parse error's recovery can cut short: local rules only then
            self._modules(self.root, depth=0)
        for n in _walk(self.root):
            if n.type == "call":
                self._call(n)
            elif n.type == "binary_operator":
                self._binop(n)
            elif n.type == "integer":
                self._integer(n)
        self._defs(self.root, params=set(), depth=0, in_def=False)
        return self.findings

    # comments: TODO / FIXME
    def _comments(self) -> None:
        for n in _walk(self.root):
            if n.type == "comment":
                m = re.search(r"\b(TODO|FIXME)\b:?\s*(.*)", _text(n))
                if m:
                    rule = "design/tag-todo" if m.group(1) == "TODO" else "design/tag-fixme"
                    self.add(rule, n, f"{m.group(1)} found: {m.group(2).strip() or '(no text)'}")

    # modules: @moduledoc, attributes set twice, nesting depth, unused private functions
    def _modules(self, node, depth: int) -> None:
        for child in node.named_children:
            if _is_defmodule(child):
                self._module(child, depth + 1)
            elif child.type not in ("do_block",) and not _is_def(child):
                self._modules(child, depth)

    def _module(self, node, depth: int) -> None:
        args = _args(node)
        name = _text(args[0]) if args else "?"
        body = _body(node)
        if depth > 3:
            self.add("design/nested-module-depth", node,
                     f"{name} is nested {depth - 1} modules deep (at most 2)", end=node.start_point)
        items = list(body.named_children) if body is not None and body.type == "do_block" else []
        attrs: dict[str, list] = {}
        defps: dict[str, object] = {}
        for item in items:
            if item.type == "unary_operator" and _text(item.child_by_field_name("operator")) == "@":
                operand = item.child_by_field_name("operand")
                if operand is not None and operand.type == "call":
                    attr = _call_parts(operand)[1]
                    value = _args(operand)
                    # `@moduledoc deprecated: "..."` adds metadata, it does not set the doc again
                    if attr and not (attr == "moduledoc" and value and value[0].type == "keywords"):
                        attrs.setdefault(attr, []).append(item)
            elif _is_def(item) and _call_parts(item)[1] == "defp":
                fname = _def_name(item)
                if fname and fname not in defps:
                    defps[fname] = item
            elif _is_defmodule(item):
                self._module(item, depth + 1)
            else:
                self._modules(item, depth)
        if "moduledoc" not in attrs and not name.endswith("Test") and not self.path.endswith(".exs"):
            self.add("readability/module-doc", node, f"{name} has no @moduledoc", end=node.start_point)
        for attr, nodes in attrs.items():
            if attr not in _REPEATABLE_ATTRS and len(nodes) > 1:
                self.add("warning/attribute-set-twice", nodes[1],
                         f"@{attr} is set {len(nodes)} times in {name} (first on line {nodes[0].start_point[0] + 1})")
        if defps:
            used = self._local_uses(items)
            for fname, item in defps.items():
                if fname not in used:
                    self.add("warning/unused-private-function", item,
                             f"private function {fname} is never used in {name}", end=item.start_point)

    def _local_uses(self, items) -> set[str]:
        """Names called locally or captured (``&f/1``) anywhere in the module except as a def head."""
        heads = set()
        for item in items:
            if _is_def(item):
                h = _def_head(item)
                if h is not None:
                    heads.add(h.id)
        used = set()
        stack = list(items)
        while stack:
            n = stack.pop()
            if n.id in heads:
                # the head's own name is no use; its arguments may call (default values)
                if n.type == "call":
                    stack.extend(_args(n))
                continue
            if n.type == "call":
                q, name = _call_parts(n)
                if q is None and name:
                    used.add(name)
            elif n.type == "identifier":  # &f/1, pipes into bare f, captures
                used.add(_text(n))
            stack.extend(n.children)
        # a def head's own name node is skipped with its head; its body still counts, so
        # recursion alone keeps a function "used" (Credo does the same)
        return used

    # calls
    def _call(self, n) -> None:
        q, name = _call_parts(n)
        if name is None:
            return
        args = _args(n)
        first = args[0] if args else None
        if (q, name) == ("IO", "inspect"):
            self.add("warning/io-inspect", n, "IO.inspect/1,2 left in code")
        elif q is None and name == "dbg" and not _is_def_head(n) and not _in_attribute(n):
            self.add("warning/dbg", n, "dbg left in code")
        elif q is None and name == "unless" and any(
                c.type == "else_block" for b in n.children if b.type == "do_block" for c in b.children):
            self.add("refactor/unless-with-else", n, "unless with an else branch: use if and swap the branches",
                     end=n.start_point)
        elif q is None and name == "unless" and args and args[-1].type == "keywords" and any(
                _text(p.child_by_field_name("key")).strip().rstrip(":") == "else" for p in args[-1].named_children):
            self.add("refactor/unless-with-else", n, "unless with an else branch: use if and swap the branches")
        elif (q, name) in _ATOM_FUNS and first is not None and not _is_literal(first):
            self.add("security/atom-creation", n, f"{q}.{name} on a non-literal value creates atoms from data")
        elif (q, name) == (":erlang", "binary_to_term") and first is not None and not _is_literal(first):
            self.add("security/binary-to-term", n, ":erlang.binary_to_term on a non-literal value")
        elif (q, name) in _EVAL_FUNS and first is not None and not _is_literal(first):
            self.add("security/code-eval", n, f"{q}.{name} evaluates a non-literal value")
        elif (q, name) in (("System", "cmd"), (":os", "cmd")) and first is not None and not _is_literal(first):
            self.add("security/command-injection", n, f"{q}.{name} with a non-literal command")
        elif q is not None and name in ("query", "query!") and (q == "Ecto.Adapters.SQL" or q.endswith("Repo")):
            sql = args[1] if q == "Ecto.Adapters.SQL" and len(args) > 1 else (first if q != "Ecto.Adapters.SQL" else None)
            if sql is not None and _is_interpolated(sql):
                self.add("security/sql-interpolation", n, f"{q}.{name} with SQL built by interpolation")
        elif q is None and name == "fragment" and first is not None and _is_interpolated(first):
            self.add("security/sql-interpolation", n, "fragment with SQL built by interpolation")
        elif name == "raw" and q in (None, "Phoenix.HTML") and len(args) == 1 and not _is_literal(first):
            self.add("security/raw-html", n, "raw/1 on non-literal content")

    def _binop(self, n) -> None:
        op = _text(n.child_by_field_name("operator"))
        left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
        # the comparisons that ask "is it empty": length(l) == 0, != 0, > 0, 0 < length(l)
        if op in ("==", "===", "!=", "!==", ">", "<"):
            pairs = {"==": ((left, right), (right, left)), "===": ((left, right), (right, left)),
                     "!=": ((left, right), (right, left)), "!==": ((left, right), (right, left)),
                     ">": ((left, right),), "<": ((right, left),)}[op]
            for a, b in pairs:
                if a.type == "call" and _call_parts(a) in ((None, "length"), ("Kernel", "length")) \
                        and b.type == "integer" and _text(b) == "0":
                    self.add("warning/length-compare-zero", n, f"{_text(n)}: compare the list with [] instead")
                    break
        if op == "|>" and not (n.parent is not None and n.parent.type == "binary_operator"
                               and _text(n.parent.child_by_field_name("operator")) == "|>"
                               and n.parent.child_by_field_name("left").id == n.id):
            # n is the last (outermost) pipe of its chain: find the chain's start
            chain, start = 1, left
            while start.type == "binary_operator" and _text(start.child_by_field_name("operator")) == "|>":
                chain += 1
                start = start.child_by_field_name("left")
            if chain == 1:
                self.add("readability/single-pipe", n, "pipe chain of a single call: call the function directly")
            elif start.type == "call" and _args(start) and _call_parts(start)[1] is not None \
                    and _call_parts(start)[1] not in DEF_KINDS | BLOCK_KINDS:
                self.add("refactor/pipe-chain-start", start,
                         f"pipe chain starts with the call {_text(start).splitlines()[0][:60]}: start with its value")

    def _integer(self, n) -> None:
        t = _text(n)
        if t.isdigit() and int(t) > 9999:
            self.add("readability/large-numbers", n, f"{t} is easier to read as {int(t):_}")

    # per-def checks: long bodies, nesting, file paths from parameters
    def _defs(self, node, params: set[str], depth: int, in_def: bool, include_self: bool = False) -> None:
        for child in ([node] if include_self else node.children):
            if _is_def(child):
                body = _body(child)
                if body is not None:
                    lines = body.end_point[0] - body.start_point[0] - 1
                    if lines > 40:
                        self.add("refactor/long-function", child,
                                 f"{_def_name(child)} has a body of {lines} lines (at most 40)", end=child.start_point)
                    self._defs(body, _params(child), 0, True, include_self=body.type != "do_block")
                continue
            d = depth
            if in_def and child.type == "call" and _call_parts(child)[0] is None \
                    and _call_parts(child)[1] in BLOCK_KINDS or child.type == "anonymous_function":
                d += 1
                if d == 3 and in_def:
                    self.add("refactor/nesting", child, f"code nested {d} levels deep (at most 2)",
                             end=child.start_point)
            if in_def and child.type == "call":
                self._traversal(child, params)
            self._defs(child, params, d, in_def)

    def _traversal(self, n, params: set[str]) -> None:
        q, name = _call_parts(n)
        args = _args(n)
        if q == "File" and name in _FILE_FUNS and args:
            path_args = args[:2] if name in _TWO_PATH_FUNS else args[:1]
        elif name == "send_file" and q in (None, "Plug.Conn") and len(args) >= 3:
            path_args = [args[2]]
        elif name == "send_download" and q in (None, "Phoenix.Controller") and len(args) >= 2:
            path_args = [args[1]]
        else:
            return
        uses = [v for a in path_args for v in _variables(a)]
        label = f"{q + '.' if q else ''}{name}"
        hit = sorted({_text(v) for v in uses} & params)
        if hit:
            self.add("security/file-traversal", n, f"{label} with a path built from the parameter {', '.join(hit)}")
        elif uses:
            # a local variable: whether a parameter reaches it is the KG's data flow to say
            self.flow_candidates.append(_FlowCandidate(
                self.path, n.start_point[0] + 1, n.start_point[1] + 1, n.end_point[0] + 1, n.end_point[1] + 1,
                "security/file-traversal", label,
                tuple((v.start_point[0] + 1, v.start_point[1] + 1) for v in uses)))


def _variables(node) -> list:
    """Identifier nodes under ``node`` that read variables (not call names, not ``x.field``'s field)."""
    out = []
    for n in _walk(node):
        if n.type != "identifier" or _text(n).startswith("_"):
            continue
        p = n.parent
        if p is not None and p.type == "dot" and p.child_by_field_name("right") is not None \
                and p.child_by_field_name("right").id == n.id:
            continue
        if p is not None and p.type == "call" and p.child_by_field_name("target") is not None \
                and p.child_by_field_name("target").id == n.id:
            continue
        out.append(n)
    return out


@dataclass(frozen=True)
class _FlowCandidate:
    """A sink call whose argument reads local variables: a finding when the KG's data flow
    brings a function parameter into one of them."""
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    rule: str
    label: str
    uses: tuple[tuple[int, int], ...]  # (line, column) of each variable read, 1-based


_TWO_PATH_FUNS = frozenset({"cp", "cp!", "cp_r", "cp_r!", "rename", "rename!", "ln_s"})


_REPEATABLE_ATTRS = frozenset({
    "doc", "impl", "spec", "callback", "macrocallback", "type", "typep", "opaque", "typedoc",
    "behaviour", "derive", "tag", "describetag", "moduletag", "dialyzer", "compile", "before_compile",
    "after_compile", "on_definition", "external_resource", "deprecated", "since", "optional_callbacks",
    "on_load", "vsn", "enforce_keys", "nifs", "file"})
_ATOM_FUNS = {("String", "to_atom"), ("List", "to_atom"), (":erlang", "binary_to_atom"),
              (":erlang", "list_to_atom")}
_EVAL_FUNS = {("Code", "eval_string"), ("Code", "eval_quoted"), ("Code", "eval_file"),
              ("EEx", "eval_string"), ("EEx", "eval_file")}
_FILE_FUNS = frozenset({"read", "read!", "write", "write!", "rm", "rm!", "rm_rf", "rm_rf!", "stream!",
                        "open", "open!", "cp", "cp!", "cp_r", "cp_r!", "rename", "rename!", "ls", "ls!",
                        "mkdir_p", "mkdir_p!", "stat", "stat!", "touch", "touch!", "chmod", "ln_s"})

# In templates, `<%= raw @x %>` / `<%= raw(x) %>` / `{raw(@x)}` with anything but a literal.
_TEMPLATE_RAW = re.compile(r"(<%=|\{)\s*(?:Phoenix\.HTML\.)?raw[\s(]+(?![\"'])([^%})]*)")


def check_template(path: str, text: str) -> list[Finding]:
    r = RULES["security/raw-html"]
    out = []
    for m in _TEMPLATE_RAW.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        arg = m.group(2).strip()
        out.append(Finding(path, line, col, line, col + len(m.group(0)), r.id, r.category, r.severity,
                           f"raw/1 on non-literal content {arg[:40]} in a template"))
    return out


def analyse_source(path: str, src: bytes) -> tuple[list[Finding], list[_FlowCandidate]]:
    """Every AST rule over one file's source (one parse): the findings, and the sink calls
    whose verdict needs the KG's data flow (:func:`flow_findings`)."""
    tree = Parser(_LANGUAGE).parse(src)
    fc = _FileCheck(path, src, tree)
    return sorted(fc.run(), key=_order), fc.flow_candidates


def check_source(path: str, src: bytes) -> list[Finding]:
    """The AST findings of one file's source."""
    return analyse_source(path, src)[0]


def _order(f: Finding):
    return (f.file, f.line, f.column, f.rule)


TEMPLATE_EXTENSIONS = (".eex", ".heex", ".leex")


def analyse_file(path: Path, display: str | None = None) -> tuple[list[Finding], list[_FlowCandidate]]:
    """Check one file (Elixir source or template); ``display`` is the name findings carry.
    Raises OSError when it cannot be read."""
    name = display or str(path)
    data = path.read_bytes()
    if path.name.endswith(TEMPLATE_EXTENSIONS):
        return check_template(name, data.decode("utf-8", "replace")), []
    return analyse_source(name, data)


def check_file(path: Path, display: str | None = None) -> list[Finding]:
    """The AST findings of one file (no KG: data-flow rules are left out)."""
    return analyse_file(path, display)[0]


_FLOW_QUERY = """
SELECT DISTINCT ?line ?col ?param WHERE {
  # @values line col
  ?span ec:inFile ?file ; ec:startLine ?l ; ec:startColumn ?c .
  FILTER (?l = ?line && ?c = ?col)
  ?use ec:hasSpan ?span ; a ec:Variable .
  ?use (ec:comesFrom|ec:computedFrom)+ ?def .
  ?def ec:ofParameter ?p ; ec:variableName ?param .
}"""


def flow_findings(kg, graph: ox.NamedNode, file: ox.NamedNode, candidates: list[_FlowCandidate]) -> list[Finding]:
    """The candidates whose variables a function parameter reaches through the clause's data
    flow (ec:comesFrom / ec:computedFrom to a binding with ec:ofParameter)."""
    if not candidates:
        return []
    cells = sorted({u for c in candidates for u in c.uses})
    values = " ".join(f"({line} {col})" for line, col in cells)
    # the IRI and the integers are serialized terms, not user text pasted into the query
    text = _FLOW_QUERY.replace("# @values line col", f"VALUES (?line ?col) {{ {values} }}").replace("?file", str(file))
    reached: dict[tuple[int, int], set[str]] = {}
    for row in kg.query(text, graphs=[graph]):
        reached.setdefault((int(row["line"].value), int(row["col"].value)), set()).add(row["param"].value)
    out = []
    for c in candidates:
        params = sorted({p for u in c.uses for p in reached.get(u, ())})
        if params:
            r = RULES[c.rule]
            out.append(Finding(c.file, c.line, c.column, c.end_line, c.end_column, r.id, r.category, r.severity,
                               f"{c.label} with a path that the parameter {', '.join(params)} flows into"))
    return out


def check_paths(kg, paths: Iterable[str | Path], workers: int = 1) -> tuple[list[Finding], list[str]]:
    """Build (or update) the KG of each path in ``kg``, run every rule (AST and data flow) and
    replace each source graph's findings graph. Returns the findings, sorted, and the files
    that could not be read. Raises FileNotFoundError / ValueError for a bad path."""
    from kg import sources
    from kg.build import build
    from ontologies import file_iri, graph_iri

    # A file is checked within its directory's graph: building the file alone would make a
    # one-file graph under the directory's project name and drop the facts (and findings) of
    # its neighbours from a reused store. Paths under one root share one build and one
    # findings graph.
    groups: dict[Path, list[Path] | None] = {}  # root -> files asked for (None: all of it)
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise FileNotFoundError(f"{given}: no such file or directory")
        root = path if path.is_dir() else path.parent
        if path.is_dir():
            groups[root] = None
        elif groups.get(root, []) is not None:
            groups.setdefault(root, []).append(path)
    findings, errors = [], []
    for root, files in groups.items():
        source = sources.discover(root)
        build(kg, root, workers=workers)
        graph = graph_iri(source.project, source.version)
        mine, iris = [], {}
        for f in checkable_files(root) if files is None else sorted(set(files)):
            shown = f.as_posix()
            iri = file_iri(source.project, source.version, f.relative_to(source.root).as_posix())
            iris[shown] = iri
            try:
                found, candidates = analyse_file(f, shown)
            except OSError as e:
                errors.append(f"{shown}: cannot read: {e.strerror or e}")
                continue
            mine += found + flow_findings(kg, graph, iri, candidates)
        store_findings(kg, graph, iris, mine)
        findings += mine
    return sorted(findings, key=_order), errors


def checkable_files(root: Path) -> list[Path]:
    """The files under ``root`` the checks read (Elixir sources and templates), skipping build
    output and dependencies like the KG build does."""
    from kg.sources import EXTENSIONS, SKIP_DIRS

    if root.is_file():
        return [root]
    out = []
    for p in sorted(root.rglob("*")):
        if any(part in SKIP_DIRS for part in p.relative_to(root).parts[:-1]):
            continue
        if p.is_file() and p.name.endswith(EXTENSIONS + TEMPLATE_EXTENSIONS):
            out.append(p)
    return out


# ---- findings in the KG --------------------------------------------------------------------

def _lit(v, dt=None) -> ox.Literal:
    return ox.Literal(str(v), datatype=dt) if dt else ox.Literal(v)


_NNI = ox.NamedNode("http://www.w3.org/2001/XMLSchema#nonNegativeInteger")
_RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")


def _n(term) -> ox.NamedNode:
    return term if isinstance(term, ox.NamedNode) else ox.NamedNode(str(term).strip("<>"))


def store_findings(kg, source_graph: ox.NamedNode, file_iris: dict[str, ox.NamedNode],
                   findings: Iterable[Finding]) -> ox.NamedNode:
    """Replace the findings graph of ``source_graph`` with ``findings``. ``file_iris`` maps a
    finding's file to the file IRI of the KG. Each finding gets the innermost function clause,
    function or module of the KG whose span holds its line as ``q:about`` (the file when none),
    and a span node like the extractor's (``ec:hasSpan``)."""
    fg = findings_graph_iri(source_graph.value)
    spans = _element_spans(kg, source_graph)
    quads = []
    for f in findings:
        file = file_iris.get(f.file)
        if file is None:
            continue
        rule = RULES[f.rule]
        node = ox.NamedNode(f"{file.value}#finding-{f.rule.replace('/', '-')}-{f.line}-{f.column}")
        # its own span node: sharing the extractor's #span-… IRI would repeat its facts across
        # the source and findings graphs in every union query
        span = ox.NamedNode(f"{node.value}-span")
        about = _innermost(spans.get(file.value, []), f.line) or file
        cls = SECURITY.SecurityFinding if rule.is_security else QUALITY.Finding
        quads += [
            ox.Quad(node, _RDF_TYPE, _n(cls), fg),
            ox.Quad(node, _n(QUALITY.rule), rule.iri, fg),
            ox.Quad(node, _n(QUALITY.severity), _n(getattr(QUALITY, rule.severity.capitalize())), fg),
            ox.Quad(node, _n(QUALITY.about), about, fg),
            ox.Quad(node, _n(QUALITY.findingMessage), _lit(f.message), fg),
            ox.Quad(node, _n(EC.hasSpan), span, fg),
            ox.Quad(span, _RDF_TYPE, _n(EC.SourceSpan), fg),
            ox.Quad(span, _n(EC.inFile), file, fg),
            ox.Quad(span, _n(EC.startLine), _lit(f.line, _NNI), fg),
            ox.Quad(span, _n(EC.startColumn), _lit(f.column, _NNI), fg),
            ox.Quad(span, _n(EC.endLine), _lit(f.end_line, _NNI), fg),
            ox.Quad(span, _n(EC.endColumn), _lit(f.end_column, _NNI), fg),
        ]
        if rule.is_security:
            quads.append(ox.Quad(node, _n(SECURITY.vulnerabilityClass), _n(getattr(SECURITY, rule.vulnerability)), fg))
    # one update = one transaction: readers see the old findings or the new ones, never a mix
    triples = " .\n".join(f"{q.subject} {q.predicate} {q.object}" for q in quads)
    kg.update(f"DROP SILENT GRAPH {fg} ;\nINSERT DATA {{ GRAPH {fg} {{\n{triples} }} }}" if quads
              else f"DROP SILENT GRAPH {fg}")
    return fg


_SPANS_QUERY = """
SELECT ?file ?el ?sl ?el2 WHERE {
  ?el ec:hasSpan ?span .
  VALUES ?type { ec:Module ec:Function ec:FunctionClause }
  ?el a ?type .
  ?span ec:inFile ?file ; ec:startLine ?sl ; ec:endLine ?el2 .
}"""


def _element_spans(kg, graph: ox.NamedNode) -> dict[str, list[tuple[int, int, ox.NamedNode]]]:
    out: dict[str, list] = {}
    for row in kg.query(_SPANS_QUERY, graphs=[graph]):
        out.setdefault(row["file"].value, []).append((int(row["sl"].value), int(row["el2"].value), row["el"]))
    return out


def _innermost(spans, line: int):
    best = None
    for sl, el, node in spans:
        if sl <= line <= el and (best is None or el - sl < best[1] - best[0]):
            best = (sl, el, node)
    return best[2] if best else None


# ---- the rule individuals, as Turtle (ontologies/*.ttl carry this text) -------------------

def rules_turtle(security: bool) -> str:
    """The ``q:Rule`` individuals of one ontology file, in the form appended to it."""
    lines = []
    for r in RULES.values():
        if r.is_security != security:
            continue
        cat = "q:Warning" if r.is_security else f"q:{r.category.capitalize()}"
        sev = f"q:{r.severity.capitalize()}"
        # no sec:vulnerabilityClass on a rule: its domain (findings, sinks) is disjoint with q:Rule
        extra = ""
        lines.append(
            f"{rule_iri(r.id)} a owl:NamedIndividual , q:Rule ;\n"
            f"    rdfs:label {ox.Literal(r.title, language='en')} ;\n"
            f"    skos:definition {ox.Literal(r.description, language='en')} ;\n"
            f"    q:ruleId \"{r.id}\" ; q:category {cat} ; q:severity {sev}{extra} .\n")
    return "\n".join(lines)


# ---- fixtures: expected findings and precision ----------------------------------------------

_EXPECT = re.compile(r"expect:\s*([a-z-]+/[a-z-]+)")


def expectations(text: str) -> set[tuple[int, str]]:
    """(line, rule) pairs a fixture marks with ``expect: <rule>`` comments on the line."""
    return {(i, m.group(1)) for i, line in enumerate(text.splitlines(), 1) for m in _EXPECT.finditer(line)}


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score_fixtures(root: Path) -> tuple[dict[str, Score], list[tuple[str, int, str, str]]]:
    """Run the checks over every fixture under ``root`` and compare with their ``expect:``
    marks. Returns the score per rule and the mismatches as (file, line, rule, "fp"|"fn")."""
    import tempfile

    from sparql.store import KnowledgeGraph

    scores = {r: Score() for r in RULES}
    misses = []
    with tempfile.TemporaryDirectory(prefix="check-fixtures-") as tmp:
        with KnowledgeGraph.open(Path(tmp) / "store") as kg:
            findings, _ = check_paths(kg, [root])
    by_file: dict[str, set] = {}
    for f in findings:
        by_file.setdefault(f.file, set()).add((f.line, f.rule))
    for path in checkable_files(root):
        rel = path.relative_to(root).as_posix()
        expected = expectations(path.read_text(encoding="utf-8"))
        found = by_file.get(path.as_posix(), set())
        for line, rule in found | expected:
            s = scores.setdefault(rule, Score())
            if (line, rule) in found and (line, rule) in expected:
                s.tp += 1
            elif (line, rule) in found:
                s.fp += 1
                misses.append((rel, line, rule, "fp"))
            else:
                s.fn += 1
                misses.append((rel, line, rule, "fn"))
    return scores, sorted(misses)
