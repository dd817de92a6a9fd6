"""Elixir source -> facts (docs/kg-model.md), with tree-sitter-elixir.

Owns the reading of one source file: modules, functions and clauses, directives, attributes,
structs, protocols, call sites, ExUnit tests and parse problems, written as N-Triples lines in
a :class:`~kg.facts.FileFacts`. Every triple's subject is a node the file owns.

How it reads (and why):

* One iterative walk over the tree (an explicit stack, never Python recursion) so that a
  500-deep nesting cannot overflow, and each node is touched once: the build has to keep up
  with ~50k lines/s on two workers while tree-sitter alone does ~75k lines/s.
* The lexical context (current module, aliases, imports, the clause or test that owns a call)
  travels on the stack: entering a scope pushes a ``_RESTORE`` marker holding the outer
  context, so the context is back when the walk leaves the scope.
* Whether an unqualified call is local or imported is only known once the whole module has
  been read (a function may be defined after its caller), so those call sites get their kind and
  candidate targets when the module ends; the imports in force at the call are kept with them.
* Text is sliced from the source bytes only where a name or a literal is written, decoded with
  ``errors="replace"`` so that non-UTF-8 input cannot crash the build.
* A file with syntax errors gets one problem per ERROR/MISSING node; only the top-level forms
  whose subtree is error free are read, nothing is guessed from the broken ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import tree_sitter_elixir
from tree_sitter import Language, Parser

from kg import dataflow
from kg.facts import RDF_TYPE, FileFacts, Problem, boolean, integer, string
from kg.syntax import call_parts
from ontologies import (
    EC,
    OTP,
    TEST,
    callback_iri,
    clause_iri,
    file_iri,
    function_iri,
    module_iri,
    project_iri,
    struct_iri,
    type_iri,
)


@dataclass(frozen=True)
class FileContext:
    project: str
    version: str
    path: str  # relative POSIX path inside the project


_LANGUAGE = Language(tree_sitter_elixir.language())
_PARSER: Parser | None = None


def _parser() -> Parser:
    # One parser per process (workers fork/spawn and call this lazily).
    global _PARSER
    if _PARSER is None:
        _PARSER = Parser(_LANGUAGE)
    return _PARSER


# ---- pre-rendered terms: str(NamedNode) is "<iri>", computed once --------------------------
_A = RDF_TYPE


def _t(node) -> str:
    return str(node)


C_CODE, C_TARGET = _t(EC.CodeElement), _t(EC.CallTarget)
C_FILE, C_SPAN, C_PROBLEM = _t(EC.SourceFile), _t(EC.SourceSpan), _t(EC.ParseProblem)
C_MODULE, C_PROTOCOL, C_IMPL = _t(EC.Module), _t(EC.Protocol), _t(EC.ProtocolImplementation)
C_FUNCTION, C_CLAUSE, C_PARAM = _t(EC.Function), _t(EC.FunctionClause), _t(EC.Parameter)
C_CALL, C_LOCAL, C_REMOTE = _t(EC.CallSite), _t(EC.LocalCall), _t(EC.RemoteCall)
C_IMPORTED, C_ERLANG = _t(EC.ImportedCall), _t(EC.ErlangCall)
C_CAPTURE, C_PIPE = _t(EC.CaptureCall), _t(EC.PipeCall)
C_DIRECTIVE, C_ALIAS, C_IMPORT = _t(EC.Directive), _t(EC.Alias), _t(EC.Import)
C_REQUIRE, C_USE = _t(EC.Require), _t(EC.Use)
C_ATTR, C_SPEC, C_TYPE = _t(EC.ModuleAttribute), _t(EC.Spec), _t(EC.TypeSpec)
C_STRUCT, C_FIELD, C_EXCEPTION = _t(EC.Struct), _t(EC.StructField), _t(EC.Exception)
C_TEMPLATE = _t(EC.QuoteTemplate)
C_BEHAVIOUR, C_CALLBACK, C_MACROCALLBACK = _t(OTP.Behaviour), _t(OTP.Callback), _t(OTP.MacroCallback)
C_IMPLDECL = _t(OTP.ImplDeclaration)
C_TESTMOD, C_TESTCASE, C_DESCRIBE = _t(TEST.TestModule), _t(TEST.TestCase), _t(TEST.DescribeBlock)
C_SETUP, C_DOCTEST, C_PROPERTY, C_ASSERTION = (
    _t(TEST.Setup), _t(TEST.Doctest), _t(TEST.PropertyTest), _t(TEST.Assertion))

P_NAME, P_ARITY, P_KIND, P_VIS = _t(EC.name), _t(EC.arity), _t(EC.kind), _t(EC.visibility)
P_DYNNAME, P_OPERATOR = _t(EC.dynamicName), _t(EC.operator)
P_PART, P_RELPATH, P_HASH = _t(EC.partOfProject), _t(EC.relativePath), _t(EC.contentHash)
P_LINECOUNT, P_STATUS, P_HASPROBLEM, P_MESSAGE = (
    _t(EC.lineCount), _t(EC.parseStatus), _t(EC.hasParseProblem), _t(EC.message))
P_SPAN, P_INFILE = _t(EC.hasSpan), _t(EC.inFile)
P_SL, P_SC, P_EL, P_EC = _t(EC.startLine), _t(EC.startColumn), _t(EC.endLine), _t(EC.endColumn)
P_INMODULE, P_NESTED = _t(EC.inModule), _t(EC.nestedIn)
P_INFUNCTION, P_ORDER = _t(EC.inFunction), _t(EC.clauseOrder)
P_HASPARAM, P_PARAMPOS, P_PARAMTEXT, P_DEFAULT = (
    _t(EC.hasParameter), _t(EC.parameterPosition), _t(EC.parameterText), _t(EC.defaultValue))
P_GUARD, P_BODILESS = _t(EC.guardText), _t(EC.bodiless)
P_INCLAUSE, P_INMODBODY, P_INFILEBODY = _t(EC.inClause), _t(EC.inModuleBody), _t(EC.inFileBody)
P_CALLARITY, P_CALLEDNAME, P_CALLEDMOD, P_CANDIDATE = (
    _t(EC.callArity), _t(EC.calledName), _t(EC.calledModule), _t(EC.candidateTarget))
P_TARGET, P_ALIASAS, P_ONLY, P_EXCEPT, P_USEOPTS = (
    _t(EC.directiveTarget), _t(EC.aliasAs), _t(EC.onlyOption), _t(EC.exceptOption), _t(EC.useOptions))
P_DEPENDS = _t(EC.dependsOn)
P_MODDOC, P_MODDOCHIDDEN, P_DOC, P_DOCHIDDEN, P_DEPRECATED = (
    _t(EC.moduledoc), _t(EC.moduledocHidden), _t(EC.doc), _t(EC.docHidden), _t(EC.deprecated))
P_ATTRNAME, P_ATTRVALUE = _t(EC.attributeName), _t(EC.attributeValue)
P_HASSPEC, P_SPECOF, P_SPECTEXT = _t(EC.hasSpec), _t(EC.specOf), _t(EC.specText)
P_TYPEKIND, P_TYPETEXT = _t(EC.typeKind), _t(EC.typeText)
P_STRUCTOF, P_HASFIELD, P_FIELDNAME, P_FIELDDEFAULT, P_ENFORCED = (
    _t(EC.structOf), _t(EC.hasField), _t(EC.fieldName), _t(EC.fieldDefault), _t(EC.enforced))
P_IMPLEMENTSPROTO, P_PROTOCOL, P_FORTYPE, P_DELEGATES = (
    _t(EC.implementsProtocol), _t(EC.protocol), _t(EC.forType), _t(EC.delegatesTo))
P_CALLBACKOF, P_OPTIONAL, P_IMPLEMENTSBEH = (
    _t(OTP.callbackOf), _t(OTP.optional), _t(OTP.implementsBehaviour))
P_HASIMPL, P_IMPLVALUE = _t(OTP.hasImpl), _t(OTP.implValue)
P_GENERATED, P_GENERATOR = _t(EC.generated), _t(EC.generator)
P_ASYNC, P_TESTNAME, P_INDESCRIBE, P_DESCRIBENAME = (
    _t(TEST["async"]), _t(TEST.testName), _t(TEST.inDescribe), _t(TEST.describeName))
P_SETUPKIND, P_ASSERTKIND, P_INTEST, P_DOCTESTOF, P_CHECKALL = (
    _t(TEST.setupKind), _t(TEST.assertionKind), _t(TEST.inTest), _t(TEST.doctestOf), _t(TEST.checkAll))

TRUE, FALSE = boolean(True), boolean(False)

# Full types (docs/kg-model.md): every class of a node, superclasses included, so that OWL
# reasoning adds no type to it. Rendered once: modules and functions are the most numerous
# typed nodes after call sites.
_MODULE_TYPES = (_A, C_MODULE, _A, C_CODE, _A, C_TARGET)
_FUNCTION_TYPES = (_A, C_FUNCTION, _A, C_CODE, _A, C_TARGET)
_INTS = [integer(i) for i in range(4096)]


def _int(n: int) -> str:
    return _INTS[n] if n < 4096 else integer(n)


_STR_CACHE: dict[str, str] = {}


def _str(text: str) -> str:
    # Names repeat a lot (calledName "map", kinds, modules): render each literal once.
    lit = _STR_CACHE.get(text)
    if lit is None:
        lit = string(text)
        if len(text) < 64 and len(_STR_CACHE) < 100_000:
            _STR_CACHE[text] = lit
    return lit


_FN_CACHE: dict[tuple[str, str, int], str] = {}


def _fn(module: str, name: str, arity: int) -> str:
    """'<function IRI>', memoised: candidate targets repeat (Enum.map/2, Kernel.length/1...)
    and percent-encoding each one again dominates the call-site cost."""
    key = (module, name, arity)
    s = _FN_CACHE.get(key)
    if s is None:
        s = str(function_iri(module, name, arity))
        if len(_FN_CACHE) < 200_000:
            _FN_CACHE[key] = s
    return s


_KIND_LIT = {k: string(k) for k in ("def", "defp", "defmacro", "defmacrop", "defguard", "defguardp", "defdelegate")}
_PRIVATE_KINDS = frozenset(("defp", "defmacrop", "defguardp"))
_PUBLIC, _PRIVATE = string("public"), string("private")

# Calls that shape code rather than call a function (docs/kg-model.md: not call sites).
_NOT_CALLS = frozenset("""
    if unless case cond with for receive try quote unquote unquote_splicing fn after else
    import alias require use super defoverridable defstruct defexception defmodule defprotocol
    defimpl def defp defmacro defmacrop defguard defguardp defdelegate
    __MODULE__ __ENV__ __CALLER__ __DIR__ __STACKTRACE__ __aliases__ __block__
    var! alias! binding
""".split())
_DEF_KINDS = frozenset(_KIND_LIT)
_ASSERT_EXTRA = frozenset(("flunk", "catch_error", "catch_exit", "catch_throw"))
# Leaves and nodes that hold no call, definition or directive: never descended.
_SKIP = frozenset("""
    identifier alias atom integer float comment boolean nil char quoted_content keyword
    quoted_atom escape_sequence operator_identifier sigil_name sigil_modifiers
""".split())

#: `use X` -> the behaviour X's ``__using__`` declares (``@behaviour ...``) in Elixir 1.14,
#: checked against the Elixir sources (lib/*/lib) and, in tests/kg/test_extract_oracle.py,
#: against the real compiler. Agent and Task define ``__using__`` (child_spec) but declare no
#: behaviour; GenEvent's declares the Erlang one.
USE_BEHAVIOURS: dict[str, str] = {
    "GenServer": "GenServer",
    "Supervisor": "Supervisor",
    "DynamicSupervisor": "DynamicSupervisor",
    "Application": "Application",
    "GenEvent": ":gen_event",
    "Mix.Task": "Mix.Task",
    "Mix.Task.Compiler": "Mix.Task.Compiler",
    "EEx.Engine": "EEx.Engine",
}

#: Functions the standard generators inject (KG depth §4), read off the Elixir 1.14 sources:
#: ``use X`` -> X's ``__using__`` (and ``__before_compile__``) defs, all ``defoverridable``
#: defaults, so a module that writes its own keeps its own (finish_module checks).
#: GenServer's ``init/1`` comes from its ``__before_compile__`` when the module has none;
#: GenEvent is Elixir's deprecated wrapper; ``use Dict`` is what HashDict still uses.
#: Injected only as a stopgap the compiler warns about ("function init/1 required by behaviour
#: GenServer is not implemented ... We will inject a default implementation for now"): they get
#: their own generator so that the missing-callbacks query still reports the callback.
#: Consumers (missing-callbacks.rq, reasoning.rules, reasoning.behaviour) recognise such a
#: function by its generator ending with STOPGAP_SUFFIX: it implements no callback.
STOPGAP_SUFFIX = "__before_compile__"
WARNED_FALLBACKS: dict[tuple[str, str, int], str] = {
    ("use GenServer", "init", 1): "GenServer." + STOPGAP_SUFFIX,
}
USE_GENERATED: dict[str, tuple[tuple[str, int], ...]] = {
    "GenServer": (("child_spec", 1), ("init", 1), ("handle_call", 3), ("handle_info", 2),
                  ("handle_cast", 2), ("terminate", 2), ("code_change", 3)),
    "Supervisor": (("child_spec", 1),),
    "DynamicSupervisor": (("child_spec", 1),),
    "Agent": (("child_spec", 1),),
    "Task": (("child_spec", 1),),
    "Application": (("stop", 1),),
    "GenEvent": (("init", 1), ("handle_event", 2), ("handle_call", 2), ("handle_info", 2),
                 ("terminate", 2), ("code_change", 3)),
    "Dict": tuple((n, a) for n, arities in (
        ("get", (2, 3)), ("get_lazy", (3,)), ("get_and_update", (3,)), ("fetch!", (2,)),
        ("has_key?", (2,)), ("put_new", (3,)), ("put_new_lazy", (3,)), ("drop", (2,)),
        ("take", (2,)), ("to_list", (1,)), ("keys", (1,)), ("values", (1,)), ("equal?", (2,)),
        ("merge", (2, 3)), ("update", (4,)), ("update!", (3,)), ("pop", (2, 3)),
        ("pop_lazy", (3,)), ("split", (2,))) for a in arities),
}
# defstruct: __struct__/0,1; defexception adds exception/1 and, when the struct has a
# :message field, message/1; defprotocol: __protocol__/1, impl_for/1, impl_for!/1; defimpl:
# __impl__/1 (Kernel.defstruct/defexception, Protocol.__protocol__/__impl__ in 1.14).
_STRUCT_GENERATED = (("__struct__", 0), ("__struct__", 1))
_PROTOCOL_GENERATED = (("__protocol__", 1), ("impl_for", 1), ("impl_for!", 1))
_IMPL_GENERATED = (("__impl__", 1),)
# Record.defrecord(:name, ...) defines the macros name/0, name/1, name/2 (defrecordp: private)
_RECORD_KINDS = {"defrecord": "defmacro", "defrecordp": "defmacrop"}

#: The protocols of Elixir 1.14's own apps and their functions (``P.__protocol__(:functions)``,
#: checked in tests/kg/test_extract_loops.py): what ``@derive P`` / ``Protocol.derive(P, T)``
#: gives the module ``P.T`` besides ``__impl__/1``. A protocol not in the table (a user's, known
#: only from another file) is not derived: nothing literal says its functions.
DERIVABLE: dict[str, tuple[tuple[str, int], ...]] = {
    "Inspect": (("inspect", 2),),
    "Enumerable": (("count", 1), ("member?", 2), ("reduce", 3), ("slice", 1)),
    "Collectable": (("into", 1),),
    "String.Chars": (("to_string", 1),),
    "List.Chars": (("to_charlist", 1),),
    "IEx.Info": (("info", 1),),
}
# Literal evaluation of compile-time loops (``for x <- @list do def unquote(x)() ...``): at most
# this many iterations (more is no hand-written literal; walking the body that often would cost)
_MAX_ITEMS = 1000
_NO = object()  # "not a literal": the evaluation gives up, the code stays dynamic


class _Atom:
    """An atom value of the literal evaluation (kept apart from strings)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other):
        return other.__class__ is _Atom and other.name == self.name

    def __hash__(self):
        return hash((_Atom, self.name))


class _Macro:
    """A same-file ``defmacro`` whose body is one ``quote`` of definitions (IO.ANSI.Sequence's
    ``defsequence``): defs (kind, static name or None, index of the macro parameter that names
    it or -1, arities of the quoted head); ``bound``: ``bind_quoted``, so a parameter is
    evaluated in the caller (loop variables, interpolated atoms), else it must be a literal."""

    __slots__ = ("module", "name", "kind", "defs", "bound")

    def __init__(self, module, name, kind, defs, bound):
        self.module, self.name, self.kind, self.defs, self.bound = module, name, kind, defs, bound


_RESTORE, _PIPE, _FINAL = 0, 1, 2
_DIRECTIVE_PREFIX = {C_ALIAS: "alias", C_IMPORT: "import", C_REQUIRE: "require", C_USE: "use"}


class _Ctx:
    """Lexical context of the walk; a new one per scope (module, clause, test...)."""

    __slots__ = ("mod", "owner_p", "owner_o", "level", "quote", "test", "describe", "aliases",
                 "own_aliases", "imports", "dup", "prop", "bind")

    def copy(self) -> "_Ctx":
        c = _Ctx.__new__(_Ctx)
        c.mod, c.owner_p, c.owner_o, c.level = self.mod, self.owner_p, self.owner_o, self.level
        c.quote, c.test, c.describe, c.aliases = self.quote, self.test, self.describe, self.aliases
        c.own_aliases, c.imports, c.dup, c.prop = False, self.imports, self.dup, self.prop
        c.bind = self.bind  # loop variables of an evaluated compile-time `for` (or None)
        return c


# ctx.level
_TOP, _MODULE, _FUNC = 0, 1, 2


class _Fn:
    __slots__ = ("s", "clauses", "kind")

    def __init__(self, s: str, kind: str):
        self.s, self.clauses, self.kind = s, 0, kind


class _Mod:
    __slots__ = ("name", "s", "funcs", "doc", "impl", "deprecated", "enforce", "callbacks",
                 "optional", "specs", "deps", "deferred", "is_test", "is_async", "gens", "is_protocol",
                 "attrs", "vars", "derive")

    def __init__(self, name: str, s: str):
        self.name, self.s = name, s
        self.funcs: dict[tuple[str, int], _Fn] = {}
        self.doc = self.deprecated = None
        self.impl: list[str] = []
        self.enforce: set[str] = set()
        self.callbacks: list[tuple[str, int, str, bool]] = []
        self.optional: set[tuple[str, int]] = set()
        self.specs: list[tuple[str, int, str]] = []
        self.deps: set[str] = set()
        self.deferred: list[tuple[str, str, int, tuple]] = []
        self.is_test = False
        self.is_async = False
        # (generator, span of the generating form, ((name, arity, kind), ...)): functions a
        # standard generator injects, written at the module's end unless the module defines them
        self.gens: list[tuple] = []
        self.is_protocol = False
        # for the literal evaluation of loops: attribute -> its last value node; module-body
        # variable -> its literal value; `@derive` protocols (name, span) awaiting defstruct
        self.attrs: dict = {}
        self.vars: dict = {}
        self.derive: list[tuple[str, str]] = []


# What Elixir's inspect writes without quotes: an alias after `Elixir.` (ASCII segments), or
# a plain atom (identifier characters, optional ?/! at the end, @ allowed).
_ALIAS_RE = re.compile(r"[A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*\Z")
_PLAIN_ATOM_RE = re.compile(r"[^\W\d][\w@]*[?!]?\Z")


def _op_kids(node) -> list:
    """Children of an operator node without comments: ``[left, op, right]`` even when a
    comment sits between them (`x\n # why\n |> f()`, `f(x)\n # why\n when ...`)."""
    kids = node.children
    if len(kids) > 3 or (len(kids) == 3 and node.type == "unary_operator"):
        kids = [k for k in kids if k.type != "comment"]
    return kids


def _unparen(block):
    """``(expr)`` is a one-expression block: the expression (or the block if it holds more)."""
    kids = [k for k in block.named_children if k.type != "comment"]
    return kids[0] if len(kids) == 1 else block


def _pair_key(text: str) -> str:
    # keyword node text is "only: " (or '"quoted key": ')
    text = text.rstrip()
    if text.endswith(":"):
        text = text[:-1]
    return text.strip('"')


class _Extractor:
    def __init__(self, src: bytes, ctx: FileContext, facts: FileFacts):
        self.src = src
        self.facts = facts
        self.lines = facts.lines
        self.subjects = facts.subjects
        self.file_s = str(facts.file)
        self.base = facts.file.value + "#"
        self.path = ctx.path
        self.spans: set[str] = set()
        self.counts = facts.counts
        self.checkall_done: set[str] = set()
        self.macros: dict[tuple[str, int], list[_Macro]] = {}  # same-file def-making macros
        self.macro_names: set[bytes] = set()
        self.accumulates: bool | None = None

    # ---- output helpers ---------------------------------------------------------------
    def local(self, prefix: str, node) -> tuple[str, str]:
        """IRI <file#prefix-L-C> of a node; returns (iri, '<iri>')."""
        sp = node.start_point
        raw = f"{self.base}{prefix}-{sp[0] + 1}-{sp[1] + 1}"
        return raw, f"<{raw}>"

    def emit(self, s: str, pairs) -> None:
        """Triples with one subject ``s`` ('<iri>'), ``pairs`` a flat list p, o, p, o..."""
        self.subjects.add(s[1:-1])
        ap = self.lines.append
        for i in range(0, len(pairs), 2):
            ap(f"{s} {pairs[i]} {pairs[i + 1]} .")

    def span(self, node) -> str:
        sp, ep = node.start_point, node.end_point
        frag = f"{sp[0] + 1}-{sp[1] + 1}-{ep[0] + 1}-{ep[1] + 1}"
        s = f"<{self.base}span-{frag}>"
        if frag not in self.spans:
            self.spans.add(frag)
            self.emit(s, (_A, C_SPAN, P_INFILE, self.file_s, P_SL, _int(sp[0] + 1),
                          P_SC, _int(sp[1] + 1), P_EL, _int(ep[0] + 1), P_EC, _int(ep[1] + 1)))
        return s

    def text(self, node) -> str:
        return self.src[node.start_byte:node.end_byte].decode("utf-8", "replace")

    # ---- names ------------------------------------------------------------------------
    def expand(self, name: str, ctx: _Ctx) -> str:
        """Alias expansion of a written module name (``H.X`` with ``alias A.H``)."""
        if name.startswith("Elixir."):
            return name[7:]  # `Elixir.Foo` is absolute: never alias-expanded
        head, dot, rest = name.partition(".")
        full = ctx.aliases.get(head)
        if full is None:
            return name
        return full + dot + rest

    def module_name(self, node, ctx: _Ctx) -> str | None:
        """The module a node names (alias, :erlang atom, __MODULE__[.X]) or None (dynamic)."""
        t = node.type
        if t == "alias":
            return self.expand(self.text(node), ctx)
        if t == "atom":
            return self.text(node)
        if t == "quoted_atom":
            return self.quoted_atom_module(node)
        if t == "identifier":
            if ctx.mod is not None and self.src[node.start_byte:node.end_byte] == b"__MODULE__":
                return ctx.mod.name
            return None
        if t == "dot":
            kids = node.named_children
            if len(kids) == 2 and kids[1].type == "alias":
                left = self.module_name(kids[0], ctx)
                if left is not None and not left.startswith(":"):
                    return left + "." + self.text(kids[1])
        return None

    def quoted_atom_module(self, node) -> str | None:
        """``:"Elixir.A.B"`` -> ``A.B``, ``:"foo"`` -> ``:foo``, spelled as Elixir's
        ``inspect`` does; None when the atom is built at run time (interpolation) or has
        escapes, or when the compiler rejects it as a module name (``/`` or ``\\``)."""
        kids = node.named_children
        if len(kids) != 1 or kids[0].type != "quoted_content":
            return None if kids else ':""'
        content = self.text(kids[0])
        if "/" in content or "\\" in content:
            return None
        if content.startswith("Elixir.") and _ALIAS_RE.match(content, 7):
            return content[7:]
        if _PLAIN_ATOM_RE.match(content):
            return ":" + content
        return f':"{content}"'

    def add_alias(self, ctx: _Ctx, short: str, full: str) -> None:
        if not ctx.own_aliases:
            ctx.aliases = dict(ctx.aliases)
            ctx.own_aliases = True
        ctx.aliases[short] = full

    # ---- the walk ---------------------------------------------------------------------
    def walk(self, root, ctx: _Ctx) -> None:
        stack: list = [root]
        pop, push, extend = stack.pop, stack.append, stack.extend
        cur = ctx
        SKIP = _SKIP
        while stack:
            item = pop()
            if item.__class__ is tuple:
                op = item[0]
                if op == _RESTORE:
                    cur = item[1]
                elif op == _PIPE:
                    right = item[1]
                    rt = right.type
                    if rt == "call":
                        cur = self.call(right, cur, stack, 1)
                    elif rt == "identifier":
                        self.local_call(right, self.text(right), 1, cur, 1)
                    else:
                        push(right)
                else:
                    self.finish_module(item[1])
                continue
            t = item.type
            if t in SKIP:
                continue
            if t == "call":
                cur = self.call(item, cur, stack, 0)
            elif t == "binary_operator":
                kids = item.children
                if len(kids) != 3:
                    kids = _op_kids(item)  # a comment between the operands
                op = kids[1].type
                if op == "|>":
                    push((_PIPE, kids[2]))
                    push(kids[0])
                else:
                    if op == "=" and cur.level == _MODULE and cur.mod is not None and not cur.quote:
                        self.module_var(kids[0], kids[2], cur)
                    extend(reversed(item.named_children))
            elif t == "unary_operator":
                op = item.children[0].type
                if op == "@":
                    self.attribute(item, cur, stack)
                elif op == "&":
                    self.capture(item, cur, stack)
                else:
                    extend(reversed(item.named_children))
            else:
                extend(reversed(item.named_children))

    def call(self, node, ctx: _Ctx, stack: list, extra: int) -> _Ctx:
        """A ``call`` node: a definition, directive, test macro or a call site. Returns the
        context the walk continues with (a scope pushes its own and a restore marker)."""
        target, args, do = call_parts(node)
        tt = target.type
        if tt == "identifier":
            name = self.text(target)
            handler = _HANDLERS.get(name)
            if handler is not None and extra == 0:
                done = handler(self, node, name, args, do, ctx, stack)
                if done is not None:
                    return done
            mod = ctx.mod
            if name in _NOT_CALLS:
                pass
            elif mod is not None and mod.is_test and (
                    name.startswith("assert") or name.startswith("refute") or name in _ASSERT_EXTRA):
                s_raw, s = self.local("assert", node)
                pairs = [_A, C_ASSERTION, P_ASSERTKIND, _str(name), P_INMODULE, mod.s]
                if ctx.test is not None:
                    pairs += (P_INTEST, ctx.test)
                self.emit(s, pairs)
            else:
                arity = extra + (1 if do is not None else 0)
                if args is not None:
                    for a in args.named_children:
                        if a.type != "comment":
                            arity += 1
                if self.macros and extra == 0:
                    self.expand_macro(node, None, name, arity, args, ctx)
                self.local_call(node, name, arity, ctx, extra)
        elif tt == "dot":
            dk = target.named_children
            if extra == 0 and len(dk) == 2 and dk[1].type == "identifier" and dk[0].type == "alias":
                qual = self.src[dk[0].start_byte:dk[0].end_byte]
                kname = self.text(dk[1])
                if qual == b"Kernel" and kname in _DEF_KINDS:
                    # `Kernel.def f(x)` (how a protocol writes a function that is no callback)
                    # defines what `def f(x)` does
                    done = self.h_def(node, kname, args, do, ctx, stack)
                    if done is not None:
                        return done
                elif qual == b"Record" and kname in _RECORD_KINDS:
                    self.h_defrecord(node, kname, args, do, ctx, stack)
                elif qual == b"Protocol" and kname == "derive":
                    self.protocol_derive(node, args, ctx)
            if len(dk) == 2 and dk[1].type == "identifier":
                mname = self.module_name(dk[0], ctx)
                if mname is not None:
                    arity = extra + (1 if do is not None else 0)
                    if args is not None:
                        for a in args.named_children:
                            if a.type != "comment":
                                arity += 1
                    if self.macros and extra == 0:
                        self.expand_macro(node, mname, self.text(dk[1]), arity, args, ctx)
                    self.remote_call(node, mname, self.text(dk[1]), arity, ctx, extra, False)
                else:
                    stack.append(dk[0])
            else:
                stack.extend(reversed(dk))
        else:
            stack.append(target)
        if do is not None:
            stack.append(do)
        if args is not None:
            stack.append(args)
        return ctx

    # ---- call sites -------------------------------------------------------------------
    def _call_common(self, node, name: str, arity: int, ctx: _Ctx, kinds: list) -> str:
        sp, ep = node.start_point, node.end_point
        s = f"<{self.base}call-{sp[0] + 1}-{sp[1] + 1}-{ep[0] + 1}-{ep[1] + 1}>"
        pairs = [_A, C_CALL]
        for k in kinds:
            pairs += (_A, k)
        pairs += (P_CALLEDNAME, _str(name), P_CALLARITY, _int(arity), P_SPAN, self.span(node))
        pairs += (ctx.owner_p, ctx.owner_o)
        self.emit(s, pairs)
        self.counts["call_sites"] += 1
        return s

    def local_call(self, node, name: str, arity: int, ctx: _Ctx, piped: int) -> None:
        if ctx.dup:
            return
        s = self._call_common(node, name, arity, ctx, [C_PIPE] if piped else [])
        mod = ctx.mod
        if mod is not None:
            mod.deferred.append((s, name, arity, ctx.imports))
        else:
            self.resolve_unqualified(None, s, name, arity, ctx.imports)

    def remote_call(self, node, mname: str, name: str, arity: int, ctx: _Ctx, piped: int,
                    capture: bool) -> None:
        if ctx.dup:
            return
        kinds = [C_REMOTE]
        if mname.startswith(":"):
            kinds.append(C_ERLANG)
        if piped:
            kinds.append(C_PIPE)
        if capture:
            kinds.append(C_CAPTURE)
        s = self._call_common(node, name, arity, ctx, kinds)
        self.emit(s, (P_CALLEDMOD, _str(mname), P_CANDIDATE, _fn(mname, name, arity)))
        mod = ctx.mod
        if mod is not None and mname != mod.name:
            mod.deps.add(mname)

    def resolve_unqualified(self, mod: _Mod | None, s: str, name: str, arity: int, imports: tuple) -> None:
        if mod is not None and (name, arity) in mod.funcs:
            self.emit(s, (_A, C_LOCAL, P_CALLEDMOD, _str(mod.name),
                          P_CANDIDATE, _fn(mod.name, name, arity)))
            return
        pairs = [_A, C_IMPORTED]
        key = (name, arity)
        sure = []
        for imod, only, except_ in imports:
            if only is not None:
                if key not in only:
                    continue
                sure.append(imod)
            elif except_ is not None and key in except_:
                continue
            pairs += (P_CANDIDATE, _fn(imod, name, arity))
        pairs += (P_CANDIDATE, _fn("Kernel", name, arity))
        if len(sure) == 1:
            # `import M, only: [f: 1]` names exactly where f/1 comes from.
            pairs += (P_CALLEDMOD, _str(sure[0]))
        self.emit(s, pairs)

    def capture(self, node, ctx: _Ctx, stack: list) -> None:
        """``&f/1``, ``&M.f/2`` are capture call sites; ``&foo(&1)`` is an ordinary call."""
        kids = node.named_children
        if not kids:
            return
        operand = kids[0]
        if operand.type == "binary_operator":
            oc = _op_kids(operand)
            if len(oc) == 3 and oc[1].type == "/" and oc[2].type == "integer":
                left = oc[0]
                try:
                    arity = int(self.text(oc[2]).replace("_", ""))
                except ValueError:
                    arity = -1
                if arity >= 0:
                    if left.type == "identifier":
                        if ctx.dup:
                            return
                        name = self.text(left)
                        s = self._call_common(node, name, arity, ctx, [C_CAPTURE])
                        if ctx.mod is not None:
                            ctx.mod.deferred.append((s, name, arity, ctx.imports))
                        else:
                            self.resolve_unqualified(None, s, name, arity, ctx.imports)
                        return
                    if left.type == "call":
                        lk = left.named_children
                        if len(lk) == 1 and lk[0].type == "dot":
                            dk = lk[0].named_children
                            if len(dk) == 2 and dk[1].type == "identifier":
                                mname = self.module_name(dk[0], ctx)
                                if mname is not None:
                                    self.remote_call(node, mname, self.text(dk[1]), arity, ctx, 0, True)
                                    return
        stack.append(operand)

    # ---- modules ----------------------------------------------------------------------
    def open_module(self, node, name: str, ctx: _Ctx, stack: list, body, types: tuple,
                    extra_pairs: tuple = ()) -> _Ctx:
        s = str(module_iri(name))
        mod = _Mod(name, s)
        pairs = list(_MODULE_TYPES)
        for t in types:
            pairs += (_A, t)
        pairs += (P_NAME, _str(name), P_INFILE, self.file_s, P_SPAN, self.span(node))
        if ctx.mod is not None:
            pairs += (P_NESTED, ctx.mod.s)
        pairs += extra_pairs
        self.emit(s, pairs)
        self.counts["modules"] += 1
        inner = ctx.copy()
        inner.mod, inner.owner_p, inner.owner_o, inner.level = mod, P_INMODBODY, s, _MODULE
        inner.test = inner.describe = None
        # Elixir: inside `defmodule Foo.Bar`, `__MODULE__` is Foo.Bar; aliases of the
        # enclosing scope stay visible.
        stack.append((_RESTORE, ctx))
        stack.append((_FINAL, mod))
        if body is not None:
            stack.append(body)
        return inner

    def finish_module(self, mod: _Mod) -> None:
        if mod.gens:
            self.generated_functions(mod)
        for s, name, arity, imports in mod.deferred:
            self.resolve_unqualified(mod, s, name, arity, imports)
        funcs = mod.funcs
        lines = self.lines
        for fn in funcs.values():
            k = fn.kind
            lines.append(f"{fn.s} {P_KIND} {_KIND_LIT[k]} .")
            lines.append(f"{fn.s} {P_VIS} {_PRIVATE if k in _PRIVATE_KINDS else _PUBLIC} .")
        for name, arity, spec_s in mod.specs:
            fn = funcs.get((name, arity))
            if fn is not None:
                self.emit(fn.s, (P_HASSPEC, spec_s))
        if mod.callbacks:
            self.emit(mod.s, (_A, C_BEHAVIOUR))
            for name, arity, node_span, macro in mod.callbacks:
                s = str(callback_iri(mod.name, name, arity))
                pairs = [_A, C_CALLBACK, _A, C_CODE]
                if macro:
                    pairs += (_A, C_MACROCALLBACK)
                pairs += (P_NAME, _str(name), P_ARITY, _int(arity), P_CALLBACKOF, mod.s,
                          P_OPTIONAL, TRUE if (name, arity) in mod.optional else FALSE,
                          P_SPAN, node_span)
                self.emit(s, pairs)
        if mod.is_test:
            self.emit(mod.s, (_A, C_TESTMOD, P_ASYNC, TRUE if mod.is_async else FALSE))
        if mod.deps:
            pairs = []
            for d in sorted(mod.deps):
                pairs += (P_DEPENDS, str(module_iri(d)))
            self.emit(mod.s, pairs)

    def generated_functions(self, mod: _Mod) -> None:
        """The functions generators injected (mod.gens), those the module does not define
        itself: real functions with full types, name, arity, kind (finish_module writes kind and
        visibility), the generating form's span, ``ec:generated true`` and ``ec:generator``;
        no clauses (no source writes them). Added to mod.funcs before local calls are resolved,
        so that ``exception(msg)`` in the module is a local call to the generated one."""
        funcs = mod.funcs
        for gen in mod.gens:
            generator, span, sigs = gen[0], gen[1], gen[2]
            # a same-file macro's call may carry the @doc written before it: (name, doc pair)
            doc_name, doc_pair = gen[3] if len(gen) > 3 and gen[3] else (None, ())
            gen_lit = _str(generator)
            for name, arity, kind in sigs:
                key = (name, arity)
                if key in funcs:
                    continue  # written by the module (a defoverridable default it replaces)
                fs = _fn(mod.name, name, arity)
                funcs[key] = _Fn(fs, kind)
                fallback = WARNED_FALLBACKS.get((generator, name, arity))
                self.emit(fs, (*_FUNCTION_TYPES, P_NAME, _str(name), P_ARITY, _int(arity),
                               P_INMODULE, mod.s, P_SPAN, span,
                               P_GENERATED, TRUE, P_GENERATOR, _str(fallback) if fallback else gen_lit,
                               *(doc_pair if name == doc_name else ())))
                self.counts["generated_functions"] += 1

    def body_of(self, args, do):
        """The do-block, or the value of a ``do:`` keyword in the arguments."""
        if do is not None:
            return do
        if args is not None:
            for a in args.named_children:
                if a.type == "keywords":
                    for pair in a.named_children:
                        if pair.type == "pair":
                            pk = pair.named_children
                            if len(pk) == 2 and self.src[pk[0].start_byte:pk[0].end_byte].startswith(b"do:"):
                                return pk[1]
        return None

    @staticmethod
    def arg_list(args) -> list:
        if args is None:
            return []
        return [a for a in args.named_children if a.type != "comment"]

    def keyword_values(self, args) -> dict:
        """Trailing keyword list of a call: key -> value node."""
        out = {}
        for a in self.arg_list(args):
            if a.type == "keywords":
                for pair in a.named_children:
                    if pair.type == "pair":
                        pk = pair.named_children
                        if len(pk) == 2:
                            out[_pair_key(self.text(pk[0]))] = pk[1]
        return out

    def h_defmodule(self, node, name, args, do, ctx, stack):
        if ctx.quote:
            return None  # a module a macro defines belongs to its user: walk it as code only
        al = self.arg_list(args)
        if not al:
            return None
        written = al[0]
        body = self.body_of(args, do)
        if written.type == "alias":
            text = self.text(written)
            if ctx.mod is not None and not text.startswith("Elixir."):
                # Inside a module Elixir names it by what is written, not by alias expansion
                # (Kernel.defmodule/2 concatenates the raw name with the enclosing module)...
                full = ctx.mod.name + "." + text
                # ... and `defmodule B` inside A also aliases B to A.B in A.
                head = text.partition(".")[0]
                self.add_alias(ctx, head, ctx.mod.name + "." + head)
            else:
                # ... while at top level the name is alias-expanded (`alias A.B; defmodule B.C`
                # is A.B.C), and `Elixir.X` is X anywhere.
                full = self.expand(text, ctx)
        else:
            full = self.module_name(written, ctx)
            if full is None:
                return None  # dynamic name: nothing is guessed
        if name != "defprotocol":
            return self.open_module(node, full, ctx, stack, body, ())
        inner = self.open_module(node, full, ctx, stack, body, (C_PROTOCOL,))
        inner.mod.is_protocol = True
        inner.mod.gens.append(("defprotocol", self.span(node),
                               tuple((n, a, "def") for n, a in _PROTOCOL_GENERATED)))
        return inner

    def h_defimpl(self, node, name, args, do, ctx, stack):
        if ctx.quote:
            return None
        al = self.arg_list(args)
        if not al:
            return None
        proto = self.module_name(al[0], ctx)
        if proto is None:
            return None
        kw = self.keyword_values(args)
        fors = []
        target = kw.get("for")
        if target is None:
            if ctx.mod is None:
                return None
            fors = [ctx.mod.name]
        elif target.type == "list":
            for t in target.named_children:
                if t.type != "comment":
                    m = self.module_name(t, ctx)
                    if m is None:
                        return None
                    fors.append(m)
        else:
            m = self.module_name(target, ctx)
            if m is None:
                return None
            fors = [m]
        body = self.body_of(args, do)
        # One module per type; the body is read once per module, its file-local nodes (call
        # sites, attributes) only the first time so that no node gets two owners.
        for i in range(len(fors) - 1, -1, -1):
            t = fors[i]
            extra = (P_IMPLEMENTSPROTO, str(module_iri(proto)), P_PROTOCOL, _str(proto), P_FORTYPE, _str(t))
            inner = self.open_module(node, f"{proto}.{t}", ctx, stack, body, (C_IMPL,), extra)
            inner.mod.gens.append(("defimpl", self.span(node), tuple((n, a, "def") for n, a in _IMPL_GENERATED)))
            if i > 0:
                inner.dup = True
            if i == 0:
                return inner
            # Later types are walked after the first: their contexts are restored by markers.
            stack.append((_RESTORE, inner))
        return ctx

    # ---- functions --------------------------------------------------------------------
    def h_def(self, node, kind, args, do, ctx, stack):
        mod = ctx.mod
        if mod is None or ctx.level == _FUNC and not ctx.quote:
            return None
        al = self.arg_list(args)
        if not al:
            return None
        head = al[0]
        guard = None
        if head.type == "block":
            head = _unparen(head)
        if head.type == "binary_operator":
            hc = _op_kids(head)
            if hc[1].type == "when":
                head, guard = hc[0], hc[2]
                if head.type == "block":
                    head = _unparen(head)
        operator = False
        params: list = []
        name = dynamic = None
        ht = head.type
        if ht == "call":
            hk = head.named_children
            tgt = hk[0]
            if tgt.type == "identifier":
                name = self.text(tgt)
                if name in ("unquote", "unquote_splicing"):
                    # `def unquote(:"~~~")(x)` names the function with a literal atom (Bitwise,
                    # Kernel.SpecialForms): static after all; `unquote(name)` stays dynamic
                    name = self.unquoted_atom(head, ctx) if name == "unquote" else None
                    if name is None:
                        dynamic = self.text(head)
                else:
                    for k in hk[1:]:
                        if k.type == "arguments":
                            params = [a for a in k.named_children if a.type != "comment"]
            elif tgt.type == "call":
                name = self.unquoted_atom(tgt, ctx)
                if name is None:
                    dynamic = self.text(tgt)
                else:
                    for k in hk[1:]:
                        if k.type == "arguments":
                            params = [a for a in k.named_children if a.type != "comment"]
            else:
                return None
        elif ht == "identifier":
            name = self.text(head)
        elif ht == "binary_operator":
            hc = _op_kids(head)
            name, params, operator = hc[1].type, [hc[0], hc[2]], True
            left = hc[0]
            if name == "//" and left.type == "binary_operator":
                lc = _op_kids(left)
                if lc[1].type == "..":
                    # `first..last//step` is one ternary operator `..//` (tree-sitter nests it)
                    name, params = "..//", [lc[0], lc[2], hc[2]]
        elif ht == "unary_operator":
            hc = _op_kids(head)
            name, params, operator = hc[0].type, [hc[-1]], True
        elif ht == "operator_identifier":
            name, operator = self.text(head), True  # `defmacro (..)`: the nullary range
        else:
            return None
        body = self.body_of(args, do)
        if dynamic is not None:
            s_raw, s = self.local("dynamic", head)
            self.emit(s, (_A, C_CODE, P_DYNNAME, _str(dynamic), P_INMODULE, mod.s, P_SPAN, self.span(node)))
            mod.doc, mod.impl, mod.deprecated = None, [], None
            return self.enter_body(node, None, guard, body, ctx, stack, ())
        defaults = 0
        for p in params:
            if p.type == "binary_operator" and _op_kids(p)[1].type == "\\\\":
                defaults += 1
        n = len(params)
        if ctx.quote:
            # A def in a quote belongs to the macro's user: a template, never mod's function.
            s_raw, s = self.local("template", node)
            self.emit(s, (_A, C_TEMPLATE, _A, C_CODE, P_NAME, _str(name), P_ARITY, _int(n),
                          P_INMODULE, mod.s, P_SPAN, self.span(node)))
            return self.enter_body(node, None, guard, body, ctx, stack, params)
        if (kind == "defmacro" or kind == "defmacrop") and body is not None and not ctx.dup:
            self.register_macro(mod, name, kind, params, body)
        span = self.span(node)
        bodiless = body is None and kind != "defdelegate"
        guard_text = self.text(guard) if guard is not None else None
        # parameter nodes, shared by every arity the defaults generate
        pnodes = []
        for i, p in enumerate(params):
            s_raw, s = self.local("param", p)
            default = None
            if p.type == "binary_operator" and _op_kids(p)[1].type == "\\\\":
                default = _op_kids(p)[2]
                p = _op_kids(p)[0]
            pairs = [_A, C_PARAM, _A, C_CODE, P_PARAMPOS, _int(i), P_PARAMTEXT, _str(self.text(p))]
            if default is not None:
                pairs += (P_DEFAULT, _str(self.text(default)))
            if not ctx.dup:
                self.emit(s, pairs)
            pnodes.append((s, default is not None))
        delegate = None
        if kind == "defdelegate":
            kw = self.keyword_values(args)
            to = kw.get("to")
            if to is not None:
                tm = self.module_name(to, ctx)
                as_ = kw.get("as")
                fname = name if as_ is None else self.text(as_).lstrip(":")
                delegate = (tm if tm is not None else self.text(to), fname)
        if mod.is_protocol and bodiless and kind == "def" and not ctx.dup:
            # Protocol.def: each function of a protocol is also a callback of the protocol
            mod.callbacks.append((name, n, span, False))
        main_clause = None
        for arity in range(n - defaults, n + 1):
            key = (name, arity)
            fn = mod.funcs.get(key)
            if fn is None:
                fs = _fn(mod.name, name, arity)
                fn = mod.funcs[key] = _Fn(fs, kind)
                # ec:kind / ec:visibility are written when the module ends (finish_module)
                pairs = [*_FUNCTION_TYPES, P_NAME, _str(name), P_ARITY, _int(arity),
                         P_INMODULE, mod.s, P_SPAN, span]
                if operator:
                    pairs += (P_OPERATOR, TRUE)
                doc = mod.doc
                if doc is not None:
                    pairs += (P_DOCHIDDEN, TRUE) if doc is False else (P_DOC, _str(doc))
                if mod.deprecated is not None:
                    pairs += (P_DEPRECATED, _str(mod.deprecated))
                if delegate is not None:
                    pairs += (P_DELEGATES, _str(f"{delegate[0]}.{delegate[1]}/{arity}"))
                self.emit(fs, pairs)
                self.counts["functions"] += 1
            else:
                # Only after `defoverridable` may a name/arity be defined again with another
                # kind (`def` then `defp`): the compiler keeps the last one.
                fn.kind = kind
            if mod.impl and not ctx.dup and arity == n:
                # Elixir records @impl for the full name/arity of a head with defaults, and an
                # @impl declaration belongs to one function (otp:implOf is functional).
                for impl_s in mod.impl:
                    self.emit(fn.s, (P_HASIMPL, impl_s))
            fn.clauses += 1
            cs = str(clause_iri(mod.name, name, arity, fn.clauses))
            pairs = [_A, C_CLAUSE, P_INFUNCTION, fn.s, P_ORDER, _int(fn.clauses), P_SPAN, span]
            if guard_text is not None:
                pairs += (P_GUARD, _str(guard_text))
            if bodiless:
                pairs += (P_BODILESS, TRUE)
            # arity k receives the required parameters and the first k - required defaults
            given = arity - (n - defaults)
            for ps, has_default in pnodes:
                if has_default:
                    if given <= 0:
                        continue
                    given -= 1
                pairs += (P_HASPARAM, ps)
            self.emit(cs, pairs)
            main_clause = cs
        mod.doc, mod.impl, mod.deprecated = None, [], None
        if not ctx.dup:  # variables are file-local nodes: one owner (defimpl for: [A, B])
            dataflow.clause_flow(self, main_clause, params, guard, body)
        return self.enter_body(node, main_clause, guard, body, ctx, stack, params)

    def unquoted_atom(self, call, ctx: _Ctx) -> str | None:
        """``unquote(:foo)`` / ``unquote(:"~~~")`` -> the atom's name; in a module body (not a
        quote) also ``unquote(x)`` / ``unquote(:"#{x}_bg")`` when x is a loop variable or a
        module-body variable with a literal value; None for anything else."""
        kids = call.named_children
        if len(kids) != 2 or kids[0].type != "identifier" or kids[1].type != "arguments":
            return None
        al = [a for a in kids[1].named_children if a.type != "comment"]
        if len(al) != 1 or self.src[kids[0].start_byte:kids[0].end_byte] != b"unquote":
            return None
        a = al[0]
        if a.type == "atom":
            return self.text(a)[1:]
        if a.type == "quoted_atom":
            ak = a.named_children
            if len(ak) == 1 and ak[0].type == "quoted_content" and "\\" not in self.text(ak[0]):
                return self.text(ak[0])
        mod = ctx.mod
        if not ctx.quote and mod is not None and (ctx.bind or mod.vars):
            v = self.lit(a, self.env(ctx), mod, 0)
            if v.__class__ is _Atom:
                return v.name
        return None

    # ---- literal evaluation: compile-time loops and same-file macros -------------------
    @staticmethod
    def env(ctx: _Ctx) -> dict:
        """The variables a module-body expression sees: module-body ones, then loop ones."""
        e = ctx.mod.vars
        if ctx.bind:
            e = {**e, **ctx.bind}
        return e

    def lit(self, node, env: dict | None, mod: _Mod, depth: int):
        """The value of a literal expression (atoms, numbers, plain strings, lists, keyword
        lists, tuples, ranges of integers, ``++``, interpolation of such values, ``@attr`` with
        a literal value, the variables of ``env``, ``Enum.with_index``, ``Keyword.keys/values``)
        or _NO. ``env`` None: no variable is known. Never guesses: anything else is _NO."""
        if depth > 40:
            return _NO
        t = node.type
        if t == "atom":
            return _Atom(self.text(node)[1:])
        if t == "quoted_atom":
            v = self.interpolated(node, env, mod, depth)
            return _NO if v is _NO else _Atom(v)
        if t == "integer":
            text = self.text(node).replace("_", "")
            try:
                return int(text, 0)
            except ValueError:
                try:
                    return int(text, 10)  # 010 is 10 in Elixir
                except ValueError:
                    return _NO
        if t == "string":
            return self.interpolated(node, env, mod, depth)
        if t == "boolean" or t == "nil":
            return _Atom(self.text(node))
        if t == "identifier":
            if env is None:
                return _NO
            return env.get(self.text(node), _NO)
        if t == "list" or t == "keywords":
            out = []
            for k in node.named_children:
                kt = k.type
                if kt == "comment":
                    continue
                if kt == "keywords" or kt == "pair":
                    pairs = k.named_children if kt == "keywords" else (k,)
                    for pair in pairs:
                        if pair.type != "pair":
                            continue
                        pk = pair.named_children
                        key = self.text(pk[0])
                        if len(pk) != 2 or "#{" in key or "\\" in key:
                            return _NO
                        v = self.lit(pk[1], env, mod, depth + 1)
                        if v is _NO:
                            return _NO
                        out.append((_Atom(_pair_key(key)), v))
                else:
                    v = self.lit(k, env, mod, depth + 1)
                    if v is _NO:
                        return _NO
                    out.append(v)
                if len(out) > _MAX_ITEMS:
                    return _NO
            return out
        if t == "tuple":
            out = []
            for k in node.named_children:
                if k.type != "comment":
                    v = self.lit(k, env, mod, depth + 1)
                    if v is _NO:
                        return _NO
                    out.append(v)
            return tuple(out)
        if t == "unary_operator":
            kids = _op_kids(node)
            op = kids[0].type
            if op == "@" and kids[-1].type == "identifier":
                # `@levels`: its value when read here, if that is a literal (of literals only:
                # the variables it saw when it was set may have changed since)
                if self.accumulates is None:
                    self.accumulates = b"accumulate: true" in self.src
                if self.accumulates:
                    return _NO  # `@x` may read every value an accumulating attribute was given
                value = mod.attrs.get(self.text(kids[-1]))
                return _NO if value is None else self.lit(value, None, mod, depth + 1)
            if op == "-" and kids[-1].type == "integer":
                v = self.lit(kids[-1], None, mod, depth + 1)
                return _NO if v is _NO else -v
            return _NO
        if t == "binary_operator":
            left, opn, right = _op_kids(node)
            op = opn.type
            if op == ".." or op == "++":
                a = self.lit(left, env, mod, depth + 1)
                if a is _NO:
                    return _NO
                b = self.lit(right, env, mod, depth + 1)
                if op == "++":
                    return a + b if a.__class__ is list and b.__class__ is list else _NO
                if a.__class__ is int and b.__class__ is int and a <= b and b - a < _MAX_ITEMS:
                    return list(range(a, b + 1))
            return _NO
        if t == "call":
            kids = node.named_children
            if len(kids) != 2 or kids[0].type != "dot" or kids[1].type != "arguments":
                return _NO
            dk = kids[0].named_children
            if len(dk) != 2 or dk[0].type != "alias" or dk[1].type != "identifier":
                return _NO
            fn = self.text(kids[0])
            al = [a for a in kids[1].named_children if a.type != "comment"]
            vals = []
            for a in al:
                v = self.lit(a, env, mod, depth + 1)
                if v is _NO:
                    return _NO
                vals.append(v)
            if not vals or vals[0].__class__ is not list:
                return _NO
            lst = vals[0]
            if fn == "Enum.with_index" and len(vals) <= 2:
                off = vals[1] if len(vals) == 2 else 0
                return [(x, i + off) for i, x in enumerate(lst)] if off.__class__ is int else _NO
            if (fn == "Keyword.keys" or fn == "Keyword.values") and len(vals) == 1:
                if not all(x.__class__ is tuple and len(x) == 2 and x[0].__class__ is _Atom for x in lst):
                    return _NO
                i = 0 if fn == "Keyword.keys" else 1
                return [x[i] for x in lst]
            return _NO
        return _NO

    def interpolated(self, node, env, mod, depth):
        """A string or quoted atom's text, ``#{x}`` of an atom, integer or string included;
        _NO with escapes or any other interpolated value."""
        parts = []
        for k in node.named_children:
            kt = k.type
            if kt == "quoted_content":
                parts.append(self.text(k))
            elif kt == "interpolation":
                ik = [x for x in k.named_children if x.type != "comment"]
                if len(ik) != 1:
                    return _NO
                v = self.lit(ik[0], env, mod, depth + 1)
                vc = v.__class__
                if vc is _Atom:
                    parts.append("" if v.name == "nil" else v.name)
                elif vc is int or vc is str:
                    parts.append(str(v))
                else:
                    return _NO
            else:
                return _NO  # escape sequences: not evaluated here
        return "".join(parts)

    def match(self, pat, value, out: dict) -> bool | None:
        """Bind a generator pattern (variables, tuples of them, literals) to ``value`` in
        ``out``: True, False when it does not match (``for`` skips the element), None when the
        pattern is beyond this evaluation."""
        t = pat.type
        if t == "identifier":
            name = self.text(pat)
            if not name.startswith("_"):
                out[name] = value
            return True
        if t == "tuple":
            kids = [k for k in pat.named_children if k.type != "comment"]
            if value.__class__ is not tuple or len(value) != len(kids):
                return False
            for k, v in zip(kids, value):
                r = self.match(k, v, out)
                if r is not True:
                    return r
            return True
        if t in ("atom", "integer", "string", "boolean", "nil"):
            want = self.lit(pat, None, None, 0)
            return None if want is _NO else want == value
        return None

    def module_var(self, left, right, ctx: _Ctx) -> None:
        """``colors = [:black, ...]`` in a module body: remembered for the loops that follow."""
        mod = ctx.mod
        if left.type == "identifier":
            v = self.lit(right, self.env(ctx), mod, 0)
            if v is _NO:
                mod.vars.pop(self.text(left), None)
            else:
                mod.vars[self.text(left)] = v
        elif mod.vars:
            mod.vars.clear()  # a pattern rebinds what it names: forget rather than guess

    def h_for(self, node, name, args, do, ctx, stack):
        """A compile-time ``for`` in a module body whose generators are literal: the body is
        walked once per element with the loop variables bound (``def unquote(level)(msg)``
        then names a real function); later iterations as duplicates (``dup``), so that each
        file-local node (call sites, attributes) has one owner. Returns None (walked as
        before, ``def unquote(x)`` a dynamic record) when anything is not literal."""
        mod = ctx.mod
        if mod is None or ctx.level != _MODULE or ctx.quote or args is None:
            return None
        body = self.body_of(args, do)
        if body is None:
            return None
        text = self.src[body.start_byte:body.end_byte]
        if b"unquote" not in text and not any(m in text for m in self.macro_names):
            return None  # nothing in the body could use the loop variables for a name
        gens = []
        for a in self.arg_list(args):
            at = a.type
            if at == "binary_operator":
                k = _op_kids(a)
                if k[1].type == "<-":
                    gens.append((k[0], k[2]))
                    continue
                return None  # a filter: not evaluated
            if at == "keywords":
                for pair in a.named_children:
                    if pair.type == "pair" and _pair_key(self.text(pair.named_children[0])) != "do":
                        return None  # into:, uniq:, reduce:
                continue
            return None
        if not gens:
            return None
        envs = [self.env(ctx)]
        for pat, expr in gens:
            nxt = []
            for e in envs:
                coll = self.lit(expr, e, mod, 0)
                if coll.__class__ is not list:
                    return None
                for v in coll:
                    out = dict(e)
                    r = self.match(pat, v, out)
                    if r is None:
                        return None
                    if r:
                        nxt.append(out)
                if len(nxt) > _MAX_ITEMS:
                    return None
            envs = nxt
        if not envs:
            return None
        stack.append((_RESTORE, ctx))
        first = None
        for i in range(len(envs) - 1, -1, -1):
            inner = ctx.copy()
            inner.bind = envs[i]
            inner.dup = ctx.dup or i > 0
            stack.append(body)
            if i > 0:
                stack.append((_RESTORE, inner))
            first = inner
        for pat, expr in reversed(gens):
            stack.append(expr)  # calls in the generators run once
        return first

    def register_macro(self, mod: _Mod, name: str, kind: str, params: list, body) -> None:
        """Remember ``defmacro m(name, ...) do quote [bind_quoted: ...] do def unquote(name)()
        ... end end``: a macro whose body is one quote; its top-level defs are named by a
        parameter (``def unquote(p)``) or literally. Anything else is not expanded."""
        if body.type == "do_block":
            forms = [k for k in body.named_children if k.type != "comment"]
            if len(forms) != 1:
                return
            body = forms[0]
        elif body.type == "block":
            body = _unparen(body)  # `defmacro m(x), do: (quote do: ...)`
        if body.type != "call":
            return
        qk = body.named_children
        if qk[0].type != "identifier" or self.text(qk[0]) != "quote":
            return
        qargs = qdo = None
        for k in qk[1:]:
            if k.type == "arguments":
                qargs = k
            elif k.type == "do_block":
                qdo = k
        kw = self.keyword_values(qargs)
        if qdo is not None:
            forms = qdo.named_children
        elif "do" in kw:
            forms = (kw.pop("do"),)  # `quote do: def ...`
        else:
            return
        pnames = {}
        for i, p in enumerate(params):
            if p.type == "binary_operator" and _op_kids(p)[1].type == "\\\\":
                p = _op_kids(p)[0]
            if p.type == "identifier":
                pnames[self.text(p)] = i
        qvars, bound = pnames, False
        for key, v in kw.items():
            if key == "bind_quoted":
                if v.type != "list":
                    return
                qvars, bound = {}, True
                for k in v.named_children:
                    if k.type == "keywords":
                        for pair in k.named_children:
                            if pair.type == "pair":
                                pk = pair.named_children
                                if pk[1].type == "identifier" and self.text(pk[1]) in pnames:
                                    qvars[_pair_key(self.text(pk[0]))] = pnames[self.text(pk[1])]
            elif key != "location":
                return  # unquote: false, context: ... change what unquote means
        defs = []
        for form in forms:
            if form.type != "call":
                continue
            fk = form.named_children
            if fk[0].type != "identifier":
                continue
            dkind = self.text(fk[0])
            if dkind not in _DEF_KINDS or dkind == "defdelegate" or len(fk) < 2 or fk[1].type != "arguments":
                continue
            al = self.arg_list(fk[1])
            if not al:
                continue
            head = al[0]
            if head.type == "binary_operator" and _op_kids(head)[1].type == "when":
                head = _op_kids(head)[0]
            hparams, fname, pidx = [], None, -1
            if head.type == "identifier":
                fname = self.text(head)
            elif head.type == "call":
                hk = head.named_children
                tgt = hk[0]
                if tgt.type == "identifier":
                    fname = self.text(tgt)
                    if fname == "unquote" or fname == "unquote_splicing":
                        fname = None
                        ua = self.arg_list(hk[1]) if len(hk) > 1 else []
                        if len(ua) == 1 and ua[0].type == "identifier":
                            pidx = qvars.get(self.text(ua[0]), -1)
                        if pidx < 0:
                            continue
                    elif len(hk) > 1 and hk[1].type == "arguments":
                        hparams = self.arg_list(hk[1])
                elif tgt.type == "call":
                    tk = tgt.named_children
                    ua = self.arg_list(tk[1]) if len(tk) > 1 and tk[1].type == "arguments" else []
                    if (tk[0].type != "identifier" or self.text(tk[0]) != "unquote" or len(ua) != 1
                            or ua[0].type != "identifier" or self.text(ua[0]) not in qvars):
                        continue
                    pidx = qvars[self.text(ua[0])]
                    if len(hk) > 1 and hk[1].type == "arguments":
                        hparams = self.arg_list(hk[1])
                else:
                    continue
            else:
                continue
            if any(p.type == "call" and self.src[p.start_byte:p.end_byte].startswith(b"unquote_splicing")
                   for p in hparams):
                continue  # arity unknown
            n = len(hparams)
            d = sum(1 for p in hparams if p.type == "binary_operator" and _op_kids(p)[1].type == "\\\\")
            defs.append((dkind, fname, pidx, tuple(range(n - d, n + 1))))
        if not defs:
            return
        m = _Macro(mod.name, name, kind, tuple(defs), bound)
        n = len(params)
        d = len(params) - sum(1 for p in params if not (
            p.type == "binary_operator" and _op_kids(p)[1].type == "\\\\"))
        for arity in range(n - d, n + 1):
            self.macros.setdefault((name, arity), []).append(m)
        self.macro_names.add(name.encode())

    def expand_macro(self, node, qualifier, name, arity, args, ctx) -> None:
        """A call of a registered same-file macro, from a module body where Elixir would
        expand it (a ``defmacro`` imported or called qualified from another module; no macro
        can define functions in its own module's body, which is not compiled yet): the
        functions it defines, as generated functions of the calling module (generator
        ``macro Mod.name/arity``)."""
        mod = ctx.mod
        ms = self.macros.get((name, arity))
        if not ms or mod is None or ctx.level != _MODULE or ctx.quote:
            return
        for m in ms:
            if qualifier is not None:
                ok = m.kind == "defmacro" and qualifier == m.module and m.module != mod.name
            else:
                ok = m.kind == "defmacro" and m.module != mod.name and any(
                    imod == m.module and (only is None or (name, arity) in only)
                    and (except_ is None or (name, arity) not in except_)
                    for imod, only, except_ in ctx.imports)
            if not ok:
                continue
            al = self.arg_list(args)
            env = self.env(ctx) if m.bound else None
            sigs = []
            first = None
            for dkind, fname, pidx, arities in m.defs:
                if fname is None:
                    if pidx >= len(al):
                        continue  # named by a default argument: not followed
                    v = self.lit(al[pidx], env, mod, 0)
                    if v.__class__ is not _Atom:
                        continue
                    fname = v.name
                if first is None:
                    first = fname
                sigs += ((fname, a, dkind) for a in arities)
            if not sigs:
                return
            # the @doc before the call documents the first function the macro defines
            doc = mod.doc
            extra = ()
            if doc is not None:
                extra = (first, (P_DOCHIDDEN, TRUE) if doc is False else (P_DOC, _str(doc)))
            mod.doc, mod.impl, mod.deprecated = None, [], None
            mod.gens.append((f"macro {m.module}.{name}/{arity}", self.span(node), tuple(sigs), extra))
            return

    # ---- @derive / Protocol.derive -------------------------------------------------------
    def derived_impl(self, proto: str, target: str, span: str, generator: str) -> None:
        """The module ``proto.target`` that deriving makes (a protocol of DERIVABLE): an
        implementation module with ``__impl__/1`` and the protocol's functions, generated."""
        fns = DERIVABLE.get(proto)
        if fns is None:
            return
        name = f"{proto}.{target}"
        s = str(module_iri(name))
        self.emit(s, (*_MODULE_TYPES, _A, C_IMPL, P_NAME, _str(name), P_INFILE, self.file_s, P_SPAN, span,
                      P_IMPLEMENTSPROTO, str(module_iri(proto)), P_PROTOCOL, _str(proto),
                      P_FORTYPE, _str(target)))
        self.counts["modules"] += 1
        gen_lit = _str(generator)
        for fname, arity in _IMPL_GENERATED + fns:
            self.emit(_fn(name, fname, arity), (
                *_FUNCTION_TYPES, P_NAME, _str(fname), P_ARITY, _int(arity), P_INMODULE, s,
                P_SPAN, span, P_GENERATED, TRUE, P_GENERATOR, gen_lit,
                P_KIND, _KIND_LIT["def"], P_VIS, _PUBLIC))
            self.counts["generated_functions"] += 1

    def protocol_derive(self, node, args, ctx: _Ctx) -> None:
        """``Protocol.derive(Inspect, Macro.Env, opts)`` with literal names, outside function
        bodies and quotes."""
        if ctx.quote or ctx.level == _FUNC or ctx.dup:
            return
        al = self.arg_list(args)
        if len(al) < 2:
            return
        proto, target = self.module_name(al[0], ctx), self.module_name(al[1], ctx)
        if proto is not None and target is not None and not target.startswith(":"):
            self.derived_impl(proto, target, self.span(node), "Protocol.derive")

    def note_derive(self, value, node, ctx: _Ctx) -> None:
        """``@derive Inspect`` / ``@derive [Inspect, {Enumerable, opts}]``: kept until the
        module's defstruct (the compiler reads @derive there)."""
        items = [k for k in value.named_children if k.type != "comment"] if value.type == "list" else [value]
        span = None
        for it in items:
            if it.type == "tuple":
                tk = [k for k in it.named_children if k.type != "comment"]
                if not tk:
                    continue
                it = tk[0]
            p = self.module_name(it, ctx)
            if p is not None and not p.startswith(":"):
                span = span or self.span(node)
                ctx.mod.derive.append((p, span))

    def enter_body(self, node, clause_s, guard, body, ctx, stack, params) -> _Ctx:
        inner = ctx.copy()
        inner.level = _FUNC
        if clause_s is not None:
            inner.owner_p, inner.owner_o = P_INCLAUSE, clause_s
        stack.append((_RESTORE, ctx))
        if body is not None:
            stack.append(body)
        if guard is not None:
            stack.append(guard)
        for p in params:  # calls in default values belong to the clause
            if p.type == "binary_operator" and _op_kids(p)[1].type == "\\\\":
                stack.append(_op_kids(p)[2])
        return inner

    # ---- directives -------------------------------------------------------------------
    def directive(self, node, cls: str, target: str, ctx: _Ctx, more: tuple = ()) -> None:
        mod = ctx.mod
        if ctx.dup:
            return
        s_raw, s = self.local(_DIRECTIVE_PREFIX[cls], node)
        pairs = [_A, C_DIRECTIVE, _A, cls, P_TARGET, _str(target)]
        if mod is not None:
            pairs += (P_INMODULE, mod.s)
            if target != mod.name:
                mod.deps.add(target)
        else:
            pairs += (P_INFILEBODY, self.file_s)
        pairs += more
        self.emit(s, pairs)

    def h_alias(self, node, name, args, do, ctx, stack):
        al = self.arg_list(args)
        if not al:
            return ctx
        first = al[0]
        kw = self.keyword_values(args)
        if first.type == "dot":
            dk = first.named_children
            if len(dk) == 2 and dk[1].type == "tuple":
                base = self.module_name(dk[0], ctx)
                if base is None:
                    return ctx
                for a in dk[1].named_children:
                    if a.type == "alias":
                        sub = self.text(a)
                        full = f"{base}.{sub}"
                        short = sub.rpartition(".")[2]
                        self.add_alias(ctx, short, full)
                        self.directive(a, C_ALIAS, full, ctx, (P_ALIASAS, _str(short)))
                return ctx
        full = self.module_name(first, ctx)
        if full is None:
            return ctx
        as_node = kw.get("as")
        short = self.text(as_node) if as_node is not None else full.rpartition(".")[2]
        if name == "alias":
            self.add_alias(ctx, short, full)
            self.directive(first, C_ALIAS, full, ctx, (P_ALIASAS, _str(short)))
        else:  # require X, as: Y
            if as_node is not None:
                self.add_alias(ctx, short, full)
            self.directive(first, C_REQUIRE, full, ctx, (P_ALIASAS, _str(short)) if as_node is not None else ())
        return ctx

    def fa_list(self, node):
        """``[map: 2, filter: 2]`` -> ({("map", 2), ...}, "map/2,filter/2"); None if not literal."""
        if node.type == "keywords":  # `@optional_callbacks f: 1` (no brackets)
            items = [node]
        elif node.type == "list":
            items = node.named_children
        else:
            return None
        out, parts = set(), []
        for k in items:
            if k.type == "comment":
                continue
            if k.type != "keywords":
                return None
            for pair in k.named_children:
                if pair.type != "pair":
                    continue
                pk = pair.named_children
                if len(pk) != 2 or pk[1].type != "integer":
                    return None
                fname = _pair_key(self.text(pk[0]))
                arity = int(self.text(pk[1]).replace("_", ""))
                out.add((fname, arity))
                parts.append(f"{fname}/{arity}")
        return out, ",".join(parts)

    def h_import(self, node, name, args, do, ctx, stack):
        al = self.arg_list(args)
        if not al:
            return ctx
        target = self.module_name(al[0], ctx)
        if target is None:
            return ctx
        kw = self.keyword_values(args)
        only = except_ = None
        more = []
        for key, pred in (("only", P_ONLY), ("except", P_EXCEPT)):
            v = kw.get(key)
            if v is None:
                continue
            parsed = self.fa_list(v)
            if parsed is not None:
                if key == "only":
                    only = parsed[0]
                else:
                    except_ = parsed[0]
                more += (pred, _str(parsed[1]))
            else:
                more += (pred, _str(self.text(v)))  # e.g. only: :functions (no filtering)
        ctx.imports = ctx.imports + ((target, only, except_),)
        self.directive(al[0], C_IMPORT, target, ctx, tuple(more))
        return ctx

    def h_use(self, node, name, args, do, ctx, stack):
        al = self.arg_list(args)
        if not al:
            return ctx
        target = self.module_name(al[0], ctx)
        if target is None:
            return ctx
        opts = ", ".join(self.text(a) for a in al[1:])
        self.directive(al[0], C_USE, target, ctx, (P_USEOPTS, _str(opts)) if opts else ())
        mod = ctx.mod
        behaviour = USE_BEHAVIOURS.get(target)
        if behaviour is not None and mod is not None and not ctx.quote:
            self.emit(mod.s, (P_IMPLEMENTSBEH, str(module_iri(behaviour))))
        gen = USE_GENERATED.get(target)
        if gen is not None and mod is not None and not ctx.quote:
            mod.gens.append((f"use {target}", self.span(node), tuple((n, a, "def") for n, a in gen)))
        if mod is not None and (target == "ExUnit.Case" or (
                target.endswith("Case") and self.path.endswith("_test.exs"))):
            mod.is_test = True
            a = self.keyword_values(args).get("async")
            mod.is_async = a is not None and self.text(a) == "true"
        for a in al[1:]:
            stack.append(a)  # calls written in the options
        return ctx

    def h_quote(self, node, name, args, do, ctx, stack):
        inner = ctx.copy()
        inner.quote = True
        stack.append((_RESTORE, ctx))
        if do is not None:
            stack.append(do)
        if args is not None:
            stack.append(args)
        return inner

    def h_unquote(self, node, name, args, do, ctx, stack):
        # unquote(...) runs in the macro's own context, not in the quoted code
        if not ctx.quote:
            return None
        inner = ctx.copy()
        inner.quote = False
        stack.append((_RESTORE, ctx))
        if args is not None:
            stack.append(args)
        return inner

    # ---- structs ----------------------------------------------------------------------
    def h_defstruct(self, node, name, args, do, ctx, stack):
        mod = ctx.mod
        if mod is None or ctx.quote or ctx.level != _MODULE:
            return None
        al = self.arg_list(args)
        fields: list[tuple[str, str | None]] = []
        items = []
        for a in al:
            if a.type == "list":
                items += [k for k in a.named_children if k.type != "comment"]
            else:
                items.append(a)
        for it in items:
            if it.type == "atom":
                fields.append((self.text(it)[1:].strip('"'), None))
            elif it.type == "keywords":
                for pair in it.named_children:
                    if pair.type == "pair":
                        pk = pair.named_children
                        if len(pk) == 2:
                            fields.append((_pair_key(self.text(pk[0])), self.text(pk[1])))
            else:
                stack.append(it)  # e.g. defstruct @fields: nothing literal to record
        ss = str(struct_iri(mod.name))
        pairs = [_A, C_STRUCT]
        if name == "defexception":
            pairs += (_A, C_EXCEPTION)
        pairs += (P_STRUCTOF, mod.s, P_SPAN, self.span(node))
        base = ss[:-1] + "#field-"
        for fname, default in fields:
            fs = f"{base}{fname}>"
            pairs += (P_HASFIELD, fs)
            fp = [_A, C_FIELD, P_FIELDNAME, _str(fname),
                  P_ENFORCED, TRUE if fname in mod.enforce else FALSE]
            if default is not None:
                fp += (P_FIELDDEFAULT, _str(default))
            self.emit(fs, fp)
        self.emit(ss, pairs)
        sigs = [(n, a, "def") for n, a in _STRUCT_GENERATED]
        if name == "defexception":
            sigs.append(("exception", 1, "def"))
            if any(f == "message" for f, _ in fields):
                sigs.append(("message", 1, "def"))  # only a :message field brings message/1
        mod.gens.append((name, self.span(node), tuple(sigs)))
        for proto, dspan in mod.derive:  # @derive is read by defstruct (and defexception)
            self.derived_impl(proto, mod.name, dspan, "@derive")
        mod.derive = []
        return ctx

    def h_defrecord(self, node, name, args, do, ctx, stack):
        """``defrecord :user, [...]`` (Record, imported or qualified): the macros user/0,1,2.
        Returns None: the call itself is still a call site of Record's macro."""
        mod = ctx.mod
        if mod is None or ctx.quote or ctx.level != _MODULE or ctx.dup:
            return None
        al = self.arg_list(args)
        if al and al[0].type == "atom":
            rname, kind = self.text(al[0])[1:], _RECORD_KINDS[name]
            mod.gens.append((name, self.span(node), tuple((rname, a, kind) for a in (0, 1, 2))))
        return None

    # ---- attributes -------------------------------------------------------------------
    def attribute(self, node, ctx: _Ctx, stack: list) -> None:
        kids = node.named_children
        if not kids:
            return
        operand = kids[0]
        mod = ctx.mod
        if operand.type != "call" or mod is None or ctx.level != _MODULE or ctx.quote:
            return  # `@x` read, or an attribute outside a module body
        ok = operand.named_children
        if ok[0].type != "identifier":
            return
        name = self.text(ok[0])
        al = []
        for k in ok[1:]:
            if k.type == "arguments":
                al = [a for a in k.named_children if a.type != "comment"]
        if not al:
            return
        value = al[0]
        if name == "moduledoc" or name == "doc":
            vt = value.type
            doc = False if vt == "boolean" and self.text(value) == "false" else (
                self.string_value(value) if vt in ("string", "sigil") else None)
            if name == "doc":
                mod.doc = doc
            elif doc is False:
                self.emit(mod.s, (P_MODDOCHIDDEN, TRUE))
            elif doc is not None:
                self.emit(mod.s, (P_MODDOC, _str(doc)))
        elif name == "spec":
            fa = self.typespec_head(value)
            if fa is not None and not ctx.dup:
                s_raw, s = self.local("spec", node)
                fs = _fn(mod.name, fa[0], fa[1])
                self.emit(s, (_A, C_SPEC, P_SPECTEXT, _str(self.text(value)), P_SPECOF, fs,
                              P_INMODULE, mod.s, P_SPAN, self.span(node)))
                mod.specs.append((fa[0], fa[1], s))
        elif name in ("type", "typep", "opaque"):
            fa = self.typespec_head(value)
            if fa is not None:
                ts = str(type_iri(mod.name, fa[0], fa[1]))
                self.emit(ts, (_A, C_TYPE, _A, C_CODE, P_NAME, _str(fa[0]), P_ARITY, _int(fa[1]),
                               P_TYPEKIND, _str(name), P_TYPETEXT, _str(self.text(value)),
                               P_INMODULE, mod.s, P_SPAN, self.span(node)))
        elif name == "callback" or name == "macrocallback":
            fa = self.typespec_head(value)
            if fa is not None:
                mod.callbacks.append((fa[0], fa[1], self.span(node), name == "macrocallback"))
        elif name == "optional_callbacks":
            parsed = self.fa_list(value)
            if parsed is not None:
                mod.optional |= parsed[0]
        elif name == "behaviour":
            b = self.module_name(value, ctx)
            if b is not None:
                self.emit(mod.s, (P_IMPLEMENTSBEH, str(module_iri(b))))
        elif name == "impl":
            if ctx.dup:
                return  # the first type's module already holds this declaration
            if value.type == "boolean":
                v = self.text(value)
            else:
                v = self.module_name(value, ctx) or self.text(value)
            s_raw, s = self.local("impl", node)
            self.emit(s, (_A, C_IMPLDECL, P_IMPLVALUE, _str(v), P_SPAN, self.span(node)))
            mod.impl.append(s)
        elif name == "deprecated":
            mod.deprecated = self.string_value(value) if value.type in ("string", "sigil") else self.text(value)
        elif name == "enforce_keys":
            if value.type == "list":
                for k in value.named_children:
                    if k.type == "atom":
                        mod.enforce.add(self.text(k)[1:].strip('"'))
        else:
            if not ctx.dup:
                s_raw, s = self.local("attr", node)
                self.emit(s, (_A, C_ATTR, P_ATTRNAME, _str(name), P_ATTRVALUE, _str(self.text(value)),
                              P_INMODULE, mod.s, P_SPAN, self.span(node)))
            mod.attrs[name] = value  # read by the literal evaluation of loops (`for x <- @xs`)
            if name == "derive" and not ctx.dup:
                self.note_derive(value, node, ctx)
            stack.append(value)  # calls computing the value run in the module body

    def typespec_head(self, value):
        """``f(a, b) :: t`` (or ``... when ...``) -> ("f", 2)."""
        node = value
        if node.type == "binary_operator" and _op_kids(node)[1].type == "when":
            node = _op_kids(node)[0]
        if node.type != "binary_operator" or _op_kids(node)[1].type != "::":
            return None
        head = _op_kids(node)[0]
        if head.type == "identifier":
            return self.text(head), 0
        if head.type == "call":
            hk = head.named_children
            if hk[0].type != "identifier":
                return None
            arity = 0
            for k in hk[1:]:
                if k.type == "arguments":
                    arity = sum(1 for a in k.named_children if a.type != "comment")
            return self.text(hk[0]), arity
        if head.type == "binary_operator":
            return _op_kids(head)[1].type, 2
        if head.type == "unary_operator":
            return head.children[0].type, 1
        return None

    def string_value(self, node) -> str:
        """Contents of a string, heredoc or sigil literal as written (heredoc indentation
        removed the way Elixir does: by the closing delimiter's column)."""
        qs = node.child_by_field_name("quoted_start")
        qe = node.child_by_field_name("quoted_end")
        if qs is None or qe is None:
            return self.text(node)
        raw = self.src[qs.end_byte:qe.start_byte].decode("utf-8", "replace")
        if qs.end_byte - qs.start_byte == 3:  # heredoc
            indent = qe.start_point[1]
            lines = raw.split("\n")
            if lines and lines[0].strip() == "":
                lines = lines[1:]
            raw = "\n".join(ln[indent:] if ln[:indent].strip() == "" else ln.lstrip() for ln in lines)
        return raw

    # ---- ExUnit -----------------------------------------------------------------------
    def h_test(self, node, name, args, do, ctx, stack):
        mod = ctx.mod
        if mod is None or not mod.is_test or ctx.quote:
            return None
        al = self.arg_list(args)
        if name in ("test", "property"):
            if not al or al[0].type != "string":
                return None
            s_raw, s = self.local("test", node)
            pairs = [_A, C_TESTCASE, _A, C_CODE]
            if name == "property":
                pairs += (_A, C_PROPERTY)
            pairs += (P_TESTNAME, _str(self.string_value(al[0])), P_INMODULE, mod.s, P_SPAN, self.span(node))
            if ctx.describe is not None:
                pairs += (P_INDESCRIBE, ctx.describe)
            self.emit(s, pairs)
            self.counts["tests"] += 1
            inner = ctx.copy()
            inner.test, inner.owner_p, inner.owner_o, inner.level = s, P_INTEST, s, _FUNC
            inner.prop = name == "property"
            stack.append((_RESTORE, ctx))
            if do is not None:
                stack.append(do)
            for a in al[1:]:
                stack.append(a)
            return inner
        if name == "describe":
            if not al:
                return None
            s_raw, s = self.local("describe", node)
            label = self.string_value(al[0]) if al[0].type == "string" else self.text(al[0])
            self.emit(s, (_A, C_DESCRIBE, P_DESCRIBENAME, _str(label), P_INMODULE, mod.s,
                          P_SPAN, self.span(node)))
            inner = ctx.copy()
            inner.describe = s
            stack.append((_RESTORE, ctx))
            if do is not None:
                stack.append(do)
            return inner
        if name in ("setup", "setup_all"):
            s_raw, s = self.local("setup", node)
            pairs = [_A, C_SETUP, P_SETUPKIND, _str(name), P_INMODULE, mod.s, P_SPAN, self.span(node)]
            if ctx.describe is not None:
                pairs += (P_INDESCRIBE, ctx.describe)
            self.emit(s, pairs)
            inner = ctx.copy()
            inner.level = _FUNC
            stack.append((_RESTORE, ctx))
            if do is not None:
                stack.append(do)
            for a in al:
                stack.append(a)
            return inner
        if name == "doctest":
            if not al:
                return None
            target = self.module_name(al[0], ctx)
            if target is None:
                return ctx
            s_raw, s = self.local("doctest", node)
            self.emit(s, (_A, C_DOCTEST, P_DOCTESTOF, str(module_iri(target)), P_INMODULE, mod.s,
                          P_SPAN, self.span(node)))
            return ctx
        if name == "check":
            if ctx.test is not None and ctx.prop and ctx.test not in self.checkall_done:
                self.checkall_done.add(ctx.test)
                self.emit(ctx.test, (P_CHECKALL, TRUE))
            inner = ctx
            if do is not None:
                stack.append(do)
            for a in al:
                # `check all x <- gen`: `all` is part of the macro, its arguments are code
                if a.type == "call" and self.src[a.start_byte:a.start_byte + 3] == b"all":
                    for k in a.named_children[1:]:
                        stack.append(k)
                else:
                    stack.append(a)
            return inner
        return None


_HANDLERS = {
    "defmodule": _Extractor.h_defmodule,
    "defprotocol": _Extractor.h_defmodule,
    "defimpl": _Extractor.h_defimpl,
    "alias": _Extractor.h_alias,
    "require": _Extractor.h_alias,
    "import": _Extractor.h_import,
    "use": _Extractor.h_use,
    "quote": _Extractor.h_quote,
    "unquote": _Extractor.h_unquote,
    "unquote_splicing": _Extractor.h_unquote,
    "defstruct": _Extractor.h_defstruct,
    "defexception": _Extractor.h_defstruct,
    "defrecord": _Extractor.h_defrecord,
    "defrecordp": _Extractor.h_defrecord,
    "for": _Extractor.h_for,
}
for _k in _DEF_KINDS:
    _HANDLERS[_k] = _Extractor.h_def
for _k in ("test", "property", "describe", "setup", "setup_all", "doctest", "check"):
    _HANDLERS[_k] = _Extractor.h_test


def _problems(root, src: bytes) -> list[Problem]:
    """One problem per ERROR / MISSING node, found by descending only into subtrees that
    contain an error (iteratively)."""
    out: list[Problem] = []
    stack = [root]
    while stack:
        n = stack.pop()
        sp = n.start_point
        if n.is_missing:
            out.append(Problem(f"missing {n.type!r}", sp[0] + 1, sp[1] + 1))
        elif n.type == "ERROR":
            snippet = src[n.start_byte:min(n.end_byte, n.start_byte + 40)].decode("utf-8", "replace")
            snippet = snippet.split("\n", 1)[0]
            out.append(Problem(f"syntax error near {snippet!r}", sp[0] + 1, sp[1] + 1))
        elif n.has_error:
            stack.extend(reversed(n.children))
    out.sort(key=lambda p: (p.line, p.column))
    return out


def extract_source(source: bytes, ctx: FileContext) -> FileFacts:
    """The facts of one Elixir source file (docs/kg-model.md)."""
    fnode = file_iri(ctx.project, ctx.version, ctx.path)
    facts = FileFacts(file=fnode)
    for key in ("modules", "functions", "call_sites", "tests"):
        facts.counts[key] = 0
    lines = source.count(b"\n") + (1 if source and not source.endswith(b"\n") else 0)
    facts.line_count = lines
    ex = _Extractor(source, ctx, facts)
    tree = _parser().parse(source)
    root = tree.root_node
    if root.has_error:
        facts.status = "error"
        facts.problems = _problems(root, source)
    top = _Ctx()
    top.mod = None
    # Code outside any defmodule (ExUnit.start() in test_helper.exs, a top-level alias) sits
    # in the file's body: every call site and directive has exactly one context.
    top.owner_p, top.owner_o = P_INFILEBODY, ex.file_s
    top.level, top.quote, top.test, top.describe = _TOP, False, None, None
    top.aliases, top.own_aliases, top.imports, top.dup, top.prop = {}, True, (), False, False
    top.bind = None
    for form in root.named_children:
        if form.has_error or form.type == "ERROR":
            continue  # a form with a syntax error is skipped whole: nothing is guessed
        ex.walk(form, top)
    dataflow.file_done(ex)  # data-flow links to the call sites now known to be written
    fs = ex.file_s
    pairs = [_A, C_FILE, P_PART, str(project_iri(ctx.project, ctx.version)),
             P_RELPATH, string(ctx.path), P_HASH, string(hashlib.sha256(source).hexdigest()),
             P_LINECOUNT, _int(lines), P_STATUS, string(facts.status)]
    for p in facts.problems:
        ps = f"<{fnode.value}#problem-{p.line}-{p.column}>"
        pairs += (P_HASPROBLEM, ps)
        ex.emit(ps, (_A, C_PROBLEM, P_MESSAGE, string(p.message), P_SL, _int(p.line), P_SC, _int(p.column)))
    ex.emit(fs, pairs)
    return facts
