"""Per-clause data flow: GraphCodeBERT-style variable def-use edges (docs/kg-model.md, "Data flow").

Owns the reading of one function clause's variables: every occurrence of a variable becomes a
node ``<file#var-L-C> a ec:Variable, ec:CodeElement; ec:variableName; ec:hasSpan; ec:inClause``
and the edges between occurrences are written as

* ``use ec:comesFrom def``: the definitions (bindings) that reach a use;
* ``def ec:computedFrom occ``: a binding is computed from every variable occurrence of the
  expression it is bound from (``{:ok, x} = f(y)``: x from y; ``x = a |> g(b)``: x from a and b;
  ``case s do p -> .. end``, ``with p <- e``, ``for p <- e``: the pattern's variables from the
  subject / the right side);
* ``ec:flowsTo``, the reverse of both (core.ttl declares it so, not as ``owl:inverseOf``, so it is
  written explicitly for forward traversal).

and the links from the data flow to the clause's call sites and parameters:

* ``call ec:argumentVariable use``: a use read in an argument of the call, the piped value
  included (``a |> f(b)``: a and b). A use inside a nested call is an argument variable of
  every enclosing call whose arguments hold it (``f(g(x))``: of g and of f), as the pipe
  ``x |> g() |> f()`` desugars to the same nesting;
* ``def ec:resultOf call``: the binding is matched against an expression in which the call
  is not inside another call's arguments, a ``fn``, a capture, a ``case`` subject, an
  ``if``/``cond`` condition, a guard or a ``for`` generator or filter (those values are consumed,
  not returned): ``{:ok, x} = f(y)``, ``x = a |> g()``, ``x = IO.gets("")``, ``y = if c, do: f(),
  else: g()`` (y of f and g), the patterns of ``case f(x) do`` and ``with p <- f(x)``;
* ``def ec:ofParameter <file#param-L-C>``: a binding made by that parameter's pattern (the IRI
  kg/extract.py writes for the parameter).

A call node is linked only if the extractor writes it as a call site (special forms, macros
it knows and calls on a variable are not): the call IRIs are minted from the same span as
kg/extract.py's (``#call-sl-sc-el-ec`` of the call node; in a pipe, of the right side only),
and the lines naming one are held until the file is read (:func:`file_done`) and kept only
when the extractor wrote that call site.

Scoping follows Elixir 1.14, checked with the real compiler: a binding made inside a branch of
``case``/``cond``/``if``/``unless``/``with``/``receive``/``try``, a comprehension or a ``fn`` is not
visible after it (the value of the whole expression is, so ``y = case ...`` is computed from the
variables of every branch: the branches' definitions merge into ``y``), while a binding made in
the subject or condition (``if x = f() do``) is. Function parameters are definitions; a pin
``^x`` is a use; ``_`` and ``_name`` are not tracked; inside ``quote`` only ``unquote(...)`` is
code of the clause.

Speed: one pass over the clause with an explicit stack (no Python recursion, so 500-deep
nesting cannot overflow); names are compared as bytes and decoded only when written.
"""

from __future__ import annotations

from kg.facts import RDF_TYPE, integer, string
from kg.syntax import call_parts
from ontologies import EC

_A = RDF_TYPE
_VAR_TYPES = f"{_A} {EC.Variable} ."
_CODE_TYPE = f"{_A} {EC.CodeElement} ."
P_NAME, P_SPAN, P_INCLAUSE = str(EC.variableName), str(EC.hasSpan), str(EC.inClause)
P_COMES, P_COMPUTED, P_FLOWS = str(EC.comesFrom), str(EC.computedFrom), str(EC.flowsTo)
P_ARGVAR, P_RESULTOF, P_OFPARAM = str(EC.argumentVariable), str(EC.resultOf), str(EC.ofParameter)
_SPAN_TYPE = f"{_A} {EC.SourceSpan} ."
P_INFILE = str(EC.inFile)
P_SL, P_SC, P_EL, P_EC = (f" {EC.startLine} ", f" {EC.startColumn} ", f" {EC.endLine} ", f" {EC.endColumn} ")
_INTS = [integer(i) for i in range(4096)]

# stack operations
(_EXPR, _PAT, _COMMIT, _ENTER, _LEAVE, _SRC_START, _SRC_END, _QUOTE, _BINSPEC,
 _ARGS_START, _ARGS_END, _DEPTH_IN, _DEPTH_OUT, _PARAM_END) = range(14)
# Definitions inside a body are not the clause's code.
_DEFS = frozenset(b"def defp defmacro defmacrop defguard defguardp defdelegate defmodule defimpl "
                  b"defprotocol defstruct defexception".split())

# Nodes that hold no variable.
_SKIP = frozenset("""
    atom alias integer float boolean nil char quoted_content escape_sequence comment keyword
    operator_identifier sigil_name sigil_modifiers quoted_atom
""".split())
_BRANCH_BLOCKS = frozenset(("else_block", "after_block", "rescue_block", "catch_block"))
# Calls this module reads as control flow (never call sites in kg/extract.py either).
_SPECIAL = frozenset((b"case", b"receive", b"cond", b"if", b"unless", b"try", b"with", b"for", b"quote")) | _DEFS

_NAME_CACHE: dict[bytes, str] = {}


def _name_lit(name: bytes) -> str:
    lit = _NAME_CACHE.get(name)
    if lit is None:
        lit = string(name.decode("utf-8", "replace"))
        if len(_NAME_CACHE) < 50_000:
            _NAME_CACHE[name] = lit
    return lit


class _Src:
    """Where the occurrences of a binding's source expression sit in the occurrence list, and
    the calls whose result it is (those met at the expression's own argument depth)."""

    __slots__ = ("start", "end", "depth", "calls")

    def __init__(self, start: int):
        self.start, self.end = start, start
        self.depth = 0
        self.calls: list[str] = []


class _Call:
    """A call whose arguments are being walked: its IRI and where its uses start."""

    __slots__ = ("s", "start")

    def __init__(self, s: str):
        self.s, self.start = s, 0


class _Frame:
    """The definitions one pattern makes; they become visible together when it is committed
    (a pin in the same pattern still sees the outer binding)."""

    __slots__ = ("src", "defs")

    def __init__(self, src: _Src | None):
        self.src, self.defs = src, []


def _operator(src: bytes, node, left, right) -> bytes:
    """The operator of a binary node, read from the source between its operands (a node's
    ``children`` costs five times its ``named_children``); a comment in between is skipped."""
    between = src[left.end_byte:right.start_byte].strip()
    if b"#" in between:
        for k in node.children:
            if not k.is_named and k.start_byte >= left.end_byte:
                return k.type.encode()
    return between


def _split_guard(src: bytes, node):
    """``pattern when guard`` -> (pattern, guard); anything else -> (node, None)."""
    if node.type == "binary_operator":
        kids = [k for k in node.named_children if k.type != "comment"]
        if len(kids) == 2 and _operator(src, node, kids[0], kids[1]) == b"when":
            return kids[0], kids[1]
    return node, None


def clause_flow(ex, clause_s: str, params, guard, body) -> None:
    """Write the data-flow graph of one clause. ``ex`` is the file's extractor (read: its
    source bytes ``src``, ``facts``, file IRI ``base``/``file_s`` and the set ``spans`` of span
    fragments already written; the lines naming a call site wait in ``ex.flow_pending``
    until :func:`file_done`); ``clause_s`` the clause IRI in ``<>`` form."""
    if body is None:
        return  # a bodiless head: nothing flows
    _Walker(ex, clause_s).run(params, guard, body)


def file_done(ex) -> None:
    """Once the whole file is read: write the held lines whose call site the extractor wrote
    (its call sites are walked after the clause's data flow, so only now is it known which
    call nodes became call sites)."""
    pending = ex.__dict__.pop("flow_pending", None)
    if not pending:
        return
    written = ex.facts.subjects
    ex.facts.lines.extend([line for raw, line in pending if raw in written])


class _Walker:
    def __init__(self, ex, clause_s: str):
        self.ex = ex
        self.src = ex.src
        self.lines = ex.facts.lines
        self.subjects = ex.facts.subjects
        self.base = ex.base
        self.spans = ex.spans  # span fragments already written for this file
        self.file_s = ex.file_s
        self.clause = clause_s
        self.occ: list[str] = []  # every occurrence, in walk order (computedFrom sources)
        self.uses: list[str] = []  # the occurrences that read a binding, in walk order
        self.depth = 0  # how many call arguments (or other consumed values) enclose the walk
        self.active: list[_Src] = []  # binding sources being walked
        pending = ex.__dict__.get("flow_pending")
        if pending is None:
            pending = ex.flow_pending = []
        self.pending: list[tuple[str, str]] = pending  # (call IRI, line) held until file_done

    def occurrence(self, node, name: bytes) -> str:
        # Written inline rather than through the extractor's emit/span helpers: occurrences
        # are the most numerous nodes of a file, and the span triples follow the same
        # contract (ec:SourceSpan, 1-based lines and columns, shared set of written spans).
        sp, ep = node.start_point, node.end_point
        l1, c1, l2, c2 = sp[0] + 1, sp[1] + 1, ep[0] + 1, ep[1] + 1
        frag = f"{l1}-{c1}"
        raw = f"{self.base}var-{frag}"
        s = f"<{raw}>"
        span_frag = f"{frag}-{l2}-{c2}"
        span_raw = f"{self.base}span-{span_frag}"
        span = f"<{span_raw}>"
        subjects = self.subjects
        subjects.add(raw)
        ints = _INTS
        lines = self.lines
        if span_frag not in self.spans:
            self.spans.add(span_frag)
            subjects.add(span_raw)
            lines.extend((
                f"{span} {_SPAN_TYPE}", f"{span} {P_INFILE} {self.file_s} .",
                f"{span}{P_SL}{ints[l1] if l1 < 4096 else integer(l1)} .",
                f"{span}{P_SC}{ints[c1] if c1 < 4096 else integer(c1)} .",
                f"{span}{P_EL}{ints[l2] if l2 < 4096 else integer(l2)} .",
                f"{span}{P_EC}{ints[c2] if c2 < 4096 else integer(c2)} ."))
        lines.extend((f"{s} {_VAR_TYPES}", f"{s} {_CODE_TYPE}", f"{s} {P_NAME} {_name_lit(name)} .",
                      f"{s} {P_SPAN} {span} .", f"{s} {P_INCLAUSE} {self.clause} ."))
        self.occ.append(s)
        return s

    def run(self, params, guard, body) -> None:
        src = self.src
        lines = self.lines
        ap = lines.append
        occ = self.occ
        env: dict[bytes, tuple] = {}
        saved: list[dict] = []
        # parameters bind first (all together), then the guard and the body read them
        head = _Frame(None)
        stack: list = [(_EXPR, body, None)]
        if guard is not None:
            stack.append((_EXPR, guard, None))
        stack.append((_COMMIT, None, head))
        base = self.base
        for p in reversed(params):
            # each parameter's bindings are tagged with its node, minted as kg/extract.py
            # mints it: <file#param-L-C> of the whole parameter (a default included)
            sp = p.start_point
            stack.append((_PARAM_END, f"<{base}param-{sp[0] + 1}-{sp[1] + 1}>", head))
            stack.append((_PAT, p, head))
        param_mark = 0
        uses = self.uses
        pending = self.pending
        active = self.active
        pop, push = stack.pop, stack.append
        SKIP = _SKIP
        while stack:
            op, node, frame = pop()
            if op == _EXPR:
                t = node.type
                if t in SKIP:
                    continue
                if t == "identifier":
                    name = src[node.start_byte:node.end_byte]
                    defs = env.get(name)
                    if defs is not None:
                        u = self.occurrence(node, name)
                        uses.append(u)
                        for d in defs:
                            ap(f"{u} {P_COMES} {d} .")
                            ap(f"{d} {P_FLOWS} {u} .")
                elif t == "call":
                    self.call(node, stack, env)
                elif t == "binary_operator":
                    kids = node.named_children
                    if len(kids) != 2:
                        kids = [k for k in kids if k.type != "comment"]
                        if len(kids) != 2:
                            stack.extend([(_EXPR, k, None) for k in reversed(kids)])
                            continue
                    left, right = kids
                    optype = _operator(src, node, left, right)
                    if optype == b"=":
                        self.match(left, right, stack)
                    elif optype == b"|>" and right.type == "identifier":
                        # `x |> f`: f is a call (its node is the call site), x its argument
                        rec = self.call_rec(right)
                        push((_ARGS_END, None, rec))
                        push((_EXPR, left, None))
                        push((_ARGS_START, None, rec))
                    elif optype == b"|>" and right.type == "call" and not self.special(right):
                        self.call(right, stack, env, piped=left)
                    else:
                        push((_EXPR, right, None))
                        push((_EXPR, left, None))
                elif t == "unary_operator":
                    kids = node.named_children
                    if not kids:
                        continue
                    first = src[node.start_byte]  # prefix operators: the first byte says which
                    if first == 64:  # @
                        continue  # a module attribute, not a variable
                    operand = kids[-1]
                    if first == 38:  # &
                        if operand.type == "binary_operator":
                            ok = operand.named_children
                            if len(ok) == 2 and ok[1].type == "integer" and _operator(src, operand, ok[0], ok[1]) == b"/":
                                continue  # &name/2: a capture of a function by name
                        self.read(stack, operand)  # a function is built: no call runs now
                        continue
                    push((_EXPR, operand, None))
                elif t == "anonymous_function":
                    # the calls in a fn run later: none is a result of the enclosing binding
                    push((_DEPTH_OUT, None, None))
                    for k in reversed(node.named_children):
                        if k.type == "stab_clause":
                            self.stab(k, None, stack, pattern=True)
                    push((_DEPTH_IN, None, None))
                elif t == "dot":
                    kids = node.named_children
                    if kids:
                        push((_EXPR, kids[0], None))  # `m.key`: m is read, key is a name
                elif t == "stab_clause":
                    self.stab(node, None, stack, pattern=True)
                elif t in ("do_block", "block", "body", "arguments") or t in _BRANCH_BLOCKS:
                    if t == "do_block" or t in _BRANCH_BLOCKS:
                        self.branch_blocks(node, stack, None, pattern=True)
                    else:
                        stack.extend([(_EXPR, k, None) for k in reversed(node.named_children)])
                else:
                    stack.extend([(_EXPR, k, None) for k in reversed(node.named_children)])
            elif op == _PAT:
                t = node.type
                if t in SKIP:
                    continue
                if t == "identifier":
                    name = src[node.start_byte:node.end_byte]
                    if name[:1] != b"_":
                        frame.defs.append((name, self.occurrence(node, name)))
                elif t == "unary_operator":
                    first = src[node.start_byte]
                    kids = node.named_children
                    if first == 94 and kids:  # ^
                        push((_EXPR, kids[-1], None))  # a pin reads the outer binding
                    elif first != 64 and kids:  # not @
                        push((_PAT, kids[-1], frame))
                elif t == "binary_operator":
                    kids = node.named_children
                    if len(kids) != 2:
                        kids = [k for k in kids if k.type != "comment"]
                        if len(kids) != 2:
                            stack.extend([(_PAT, k, frame) for k in reversed(kids)])
                            continue
                    optype = _operator(src, node, kids[0], kids[1])
                    if optype == b"::":
                        push((_BINSPEC, kids[1], None))
                        push((_PAT, kids[0], frame))
                    elif optype == b"when" or optype == b"\\\\":
                        push((_EXPR, kids[1], None))  # a guard or a default value is read
                        push((_PAT, kids[0], frame))
                    elif optype == b"in":
                        push((_PAT, kids[0], frame))  # `rescue e in [A, B]`
                    else:
                        push((_PAT, kids[1], frame))
                        push((_PAT, kids[0], frame))
                elif t == "call":
                    kids = node.named_children
                    target = kids[0]
                    if target.type == "identifier" and src[target.start_byte:target.end_byte] in (
                            b"unquote", b"unquote_splicing"):
                        stack.extend([(_EXPR, k, None) for k in reversed(kids[1:])])
                    else:
                        stack.extend([(_PAT, k, frame) for k in reversed(kids[1:])])
                elif t == "dot":
                    continue
                else:
                    stack.extend([(_PAT, k, frame) for k in reversed(node.named_children)])
            elif op == _COMMIT:
                defs = frame.defs
                if not defs:
                    continue
                fresh: dict[bytes, list] = {}
                for name, d in defs:
                    fresh.setdefault(name, []).append(d)
                for name, ds in fresh.items():
                    env[name] = tuple(ds)
                s = frame.src
                if s is not None and s.end > s.start:
                    sources = dict.fromkeys(occ[s.start:s.end])
                    for _, d in defs:
                        for o in sources:
                            ap(f"{d} {P_COMPUTED} {o} .")
                            ap(f"{o} {P_FLOWS} {d} .")
                if s is not None and s.calls:
                    for _, d in defs:
                        for c in s.calls:
                            pending.append((c, f"{d} {P_RESULTOF} <{c}> ."))
            elif op == _ARGS_START:
                # the call's result is a result of the sources walked at this depth
                for a in active:
                    if a.depth == self.depth:
                        a.calls.append(frame.s)
                frame.start = len(uses)
                self.depth += 1
            elif op == _ARGS_END:
                self.depth -= 1
                c = frame.s
                cs = f"<{c}> {P_ARGVAR} "
                for u in dict.fromkeys(uses[frame.start:]):
                    pending.append((c, f"{cs}{u} ."))
            elif op == _DEPTH_IN:
                self.depth += 1
            elif op == _DEPTH_OUT:
                self.depth -= 1
            elif op == _PARAM_END:
                defs = frame.defs
                for _, d in defs[param_mark:]:
                    ap(f"{d} {P_OFPARAM} {node} .")
                param_mark = len(defs)
            elif op == _ENTER:
                saved.append(env)
                env = dict(env)
            elif op == _LEAVE:
                env = saved.pop()
            elif op == _SRC_START:
                frame.start = frame.end = len(occ)
                frame.depth = self.depth
                active.append(frame)
            elif op == _SRC_END:
                frame.end = len(occ)
                if active and active[-1] is frame:
                    active.pop()
                else:
                    active.remove(frame)
            elif op == _QUOTE:
                # Quoted code is data for the macro's user; only unquote(...) runs here.
                if node.type == "call":
                    kids = node.named_children
                    target = kids[0]
                    if target.type == "identifier" and src[target.start_byte:target.end_byte] in (
                            b"unquote", b"unquote_splicing"):
                        stack.extend([(_EXPR, k, None) for k in reversed(kids[1:])])
                        continue
                if node.type not in SKIP:
                    stack.extend([(_QUOTE, k, None) for k in reversed(node.named_children)])
            elif op == _BINSPEC:
                # `n::size(len)`, `x::binary-size(4)`: names are types, call arguments are read.
                t = node.type
                if t == "call":
                    stack.extend([(_EXPR, k, None) for k in reversed(node.named_children[1:])])
                elif t == "binary_operator":
                    stack.extend([(_BINSPEC, k, None) for k in reversed(node.named_children)])

    # ---- helpers (they only push work; the loop above does it) -------------------------

    def read(self, stack, node) -> None:
        """Read ``node`` as a consumed value (a condition, a guard, a case subject, a capture):
        its calls are not results of an enclosing binding."""
        stack.append((_DEPTH_OUT, None, None))
        stack.append((_EXPR, node, None))
        stack.append((_DEPTH_IN, None, None))

    def call_rec(self, node) -> _Call:
        """The call-site IRI kg/extract.py mints for a call node: <file#call-sl-sc-el-ec>."""
        sp, ep = node.start_point, node.end_point
        return _Call(f"{self.base}call-{sp[0] + 1}-{sp[1] + 1}-{ep[0] + 1}-{ep[1] + 1}")

    def special(self, node) -> bool:
        """A call node this module reads as control flow or a definition."""
        target = node.named_children[0]
        return target.type == "identifier" and self.src[target.start_byte:target.end_byte] in _SPECIAL

    def match(self, left, right, stack) -> None:
        """``left = right``: right is read, then left's variables are bound from it."""
        src = _Src(0)
        frame = _Frame(src)
        stack.append((_COMMIT, None, frame))
        stack.append((_PAT, left, frame))
        stack.append((_SRC_END, None, src))
        stack.append((_EXPR, right, None))
        stack.append((_SRC_START, None, src))

    def bound(self, pattern, source, stack) -> None:
        """``pattern <- source`` (with / for): bind pattern (guard split) from source."""
        pat, guard = _split_guard(self.src, pattern)
        src = _Src(0)
        frame = _Frame(src)
        if guard is not None:
            self.read(stack, guard)
        stack.append((_COMMIT, None, frame))
        stack.append((_PAT, pat, frame))
        stack.append((_SRC_END, None, src))
        stack.append((_EXPR, source, None))
        stack.append((_SRC_START, None, src))

    def stab(self, clause, src: _Src | None, stack, pattern: bool) -> None:
        """One ``left -> right`` clause in its own scope. ``pattern``: left binds (case, fn,
        receive, rescue...) from ``src``; otherwise left is a condition that is read (cond)."""
        left = right = None
        for k in clause.named_children:
            if k.type == "body":
                right = k
            elif k.type != "comment":
                left = k
        stack.append((_LEAVE, None, None))
        if right is not None:
            stack.append((_EXPR, right, None))
        if left is not None:
            if pattern:
                pat, guard = _split_guard(self.src, left)
                frame = _Frame(src)
                if guard is not None:
                    self.read(stack, guard)
                stack.append((_COMMIT, None, frame))
                stack.append((_PAT, pat, frame))
            else:
                self.read(stack, left)  # a cond condition, a receive timeout
        stack.append((_ENTER, None, None))

    def branch_blocks(self, do, stack, src: _Src | None, pattern: bool, skip_do: bool = False) -> None:
        """A do-block: the do part and each else/after/rescue/catch part is its own scope;
        stab clauses are each their own scope."""
        parts: list = []  # (kind, [nodes]) in source order
        do_body: list = []
        for k in do.named_children:
            t = k.type
            if t in _BRANCH_BLOCKS:
                parts.append((t, k))
            elif t != "comment":
                do_body.append(k)
        for t, block in reversed(parts):
            kids = [k for k in block.named_children if k.type != "comment"]
            if kids and kids[0].type == "stab_clause":
                # else/rescue/catch clauses bind from the do part's value (try/with else) or
                # from nothing we can see (an exception, a thrown value)
                for k in reversed(kids):
                    if k.type == "stab_clause":
                        # receive's `after timeout -> ...` reads its left side
                        self.stab(k, src if t == "else_block" else None, stack, pattern=t != "after_block")
            else:
                stack.append((_LEAVE, None, None))
                stack.extend([(_EXPR, k, None) for k in reversed(kids)])
                stack.append((_ENTER, None, None))
        if skip_do:
            return
        if do_body and do_body[0].type == "stab_clause":
            for k in reversed(do_body):
                if k.type == "stab_clause":
                    self.stab(k, src, stack, pattern=pattern)
        elif do_body:
            stack.append((_LEAVE, None, None))
            stack.extend([(_EXPR, k, None) for k in reversed(do_body)])
            stack.append((_ENTER, None, None))

    def call(self, node, stack, env, piped=None) -> None:
        """A call node; ``piped`` is the left side of ``piped |> node`` (never with a special
        form: the pipe walks those as before)."""
        target, args, do = call_parts(node)
        al = [a for a in args.named_children if a.type != "comment"] if args is not None else []
        tt = target.type
        name = self.src[target.start_byte:target.end_byte] if tt == "identifier" else None
        push = stack.append
        if name in (b"case", b"receive"):
            # subject (read in the outer scope; its bindings stay) then one scope per clause
            if name == b"case" and al:
                src = _Src(0)
                if do is not None:
                    self.branch_blocks(do, stack, src, pattern=True)
                self.keyword_branches(al[1:], stack)
                # the subject is consumed by the patterns: its calls are results of the
                # patterns' bindings (the source's depth), not of a binding of the whole case
                push((_DEPTH_OUT, None, None))
                push((_SRC_END, None, src))
                push((_EXPR, al[0], None))
                push((_SRC_START, None, src))
                push((_DEPTH_IN, None, None))
            else:
                if do is not None:
                    self.branch_blocks(do, stack, None, pattern=True)
                self.keyword_branches(al, stack)
            return
        if name == b"cond":
            if do is not None:
                self.branch_blocks(do, stack, None, pattern=False)
            return
        if name in (b"if", b"unless"):
            if do is not None:
                self.branch_blocks(do, stack, None, pattern=True)
            self.keyword_branches(al[1:], stack)
            if al:
                self.read(stack, al[0])  # the condition's bindings stay after the if
            return
        if name == b"try":
            if do is not None:
                src = _Src(0)
                # else clauses match the do part's value
                self.branch_blocks(do, stack, src, pattern=True, skip_do=True)
                body = [k for k in do.named_children if k.type not in _BRANCH_BLOCKS and k.type != "comment"]
                push((_LEAVE, None, None))
                push((_SRC_END, None, src))
                stack.extend([(_EXPR, k, None) for k in reversed(body)])
                push((_SRC_START, None, src))
                push((_ENTER, None, None))
            self.keyword_branches(al, stack)
            return
        if name == b"with" or name == b"for":
            self.with_for(name, al, do, stack)
            return
        if name == b"quote":
            if do is not None:
                push((_QUOTE, do, None))
            for a in reversed(al):
                push((_QUOTE, a, None))
            return
        if name in _DEFS:
            return  # a definition inside a body is not this clause's code
        # an ordinary call (or a macro we do not know): arguments are read (the piped value
        # first); a do-block is its own scope and, as the compiler counts it, an argument
        rec = self.call_rec(node)
        push((_ARGS_END, None, rec))
        if do is not None:
            self.branch_blocks(do, stack, None, pattern=True)
        for a in reversed(al):
            push((_EXPR, a, None))
        if piped is not None:
            push((_EXPR, piped, None))
        push((_ARGS_START, None, rec))
        if tt == "dot":
            dk = target.named_children
            if dk:
                push((_EXPR, dk[0], None))  # `mod.fun(x)`, `f.(x)`: the variable is read
        elif tt != "identifier":
            push((_EXPR, target, None))

    def keyword_branches(self, al, stack) -> None:
        """``do: a, else: b`` written as keywords: each value is its own scope."""
        for a in reversed(al):
            if a.type == "keywords":
                for pair in reversed(a.named_children):
                    if pair.type == "pair":
                        pk = pair.named_children
                        if len(pk) == 2:
                            stack.append((_LEAVE, None, None))
                            stack.append((_EXPR, pk[1], None))
                            stack.append((_ENTER, None, None))
            else:
                stack.append((_EXPR, a, None))

    def with_for(self, name: bytes, al, do, stack) -> None:
        """``with``/``for``: clauses bind in order inside one scope that also holds the body;
        nothing leaks out. ``with``'s else clauses match a failing clause's value; ``for``'s
        reduce clauses bind the accumulator from ``reduce:`` and each element's value."""
        push = stack.append
        all_src = _Src(0)
        kw = []
        clauses = []
        for a in al:
            if a.type == "keywords":
                for pair in a.named_children:
                    if pair.type == "pair":
                        pk = pair.named_children
                        if len(pk) == 2:
                            key = self.src[pk[0].start_byte:pk[0].end_byte].rstrip().rstrip(b":")
                            kw.append((key, pk[1]))
            else:
                clauses.append(a)
        # executed in this order: ENTER, clauses, keyword options, body, LEAVE, else clauses
        if name == b"with":
            for key, value in reversed(kw):
                if key == b"else":
                    push((_EXPR, value, None))
            if do is not None:
                self.branch_blocks(do, stack, all_src, pattern=True, skip_do=True)
        push((_LEAVE, None, None))
        body = []
        if do is not None:
            body = [k for k in do.named_children if k.type not in _BRANCH_BLOCKS and k.type != "comment"]
        if body and body[0].type == "stab_clause":  # for ... reduce: acc do x, acc -> ... end
            for k in reversed(body):
                if k.type == "stab_clause":
                    self.stab(k, all_src, stack, pattern=True)
        else:
            stack.extend([(_EXPR, k, None) for k in reversed(body)])
        for key, value in reversed(kw):
            if key == b"do":
                push((_EXPR, value, None))
        push((_SRC_END, None, all_src))
        for key, value in reversed(kw):
            if key not in (b"do", b"else"):
                push((_EXPR, value, None))  # into:, uniq:, reduce:
        consumed = name == b"for"  # generators and filters feed the loop, not its value
        for c in reversed(clauses):
            if consumed:
                push((_DEPTH_OUT, None, None))
            gen = c
            if c.type == "bitstring":  # for <<c <- bin>>
                inner = [k for k in c.named_children if k.type != "comment"]
                if len(inner) == 1:
                    gen = inner[0]
            if gen.type == "binary_operator" and len(gen.named_children) == 2 and _operator(
                    self.src, gen, gen.named_children[0], gen.named_children[1]) == b"<-":
                gk = gen.named_children
                self.bound(gk[0], gk[1], stack)
            else:
                push((_EXPR, c, None))  # a filter, or a `x = e` match (walked as one)
            if consumed:
                push((_DEPTH_IN, None, None))
        push((_SRC_START, None, all_src))
        push((_ENTER, None, None))
