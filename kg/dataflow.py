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

from kg.facts import integer, string
from ontologies import EC

_A = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
_VAR_TYPES = f"{_A} {EC.Variable} ."
_CODE_TYPE = f"{_A} {EC.CodeElement} ."
P_NAME, P_SPAN, P_INCLAUSE = str(EC.variableName), str(EC.hasSpan), str(EC.inClause)
P_COMES, P_COMPUTED, P_FLOWS = str(EC.comesFrom), str(EC.computedFrom), str(EC.flowsTo)
_SPAN_TYPE = f"{_A} {EC.SourceSpan} ."
P_INFILE = str(EC.inFile)
P_SL, P_SC, P_EL, P_EC = (f" {EC.startLine} ", f" {EC.startColumn} ", f" {EC.endLine} ", f" {EC.endColumn} ")
_INTS = [integer(i) for i in range(4096)]

# stack operations
_EXPR, _PAT, _COMMIT, _ENTER, _LEAVE, _SRC_START, _SRC_END, _QUOTE, _BINSPEC = range(9)
# Definitions inside a body are not the clause's code.
_DEFS = frozenset(b"def defp defmacro defmacrop defguard defguardp defdelegate defmodule defimpl "
                  b"defprotocol defstruct defexception".split())

# Nodes that hold no variable.
_SKIP = frozenset("""
    atom alias integer float boolean nil char quoted_content escape_sequence comment keyword
    operator_identifier sigil_name sigil_modifiers quoted_atom
""".split())
_BRANCH_BLOCKS = frozenset(("else_block", "after_block", "rescue_block", "catch_block"))

_NAME_CACHE: dict[bytes, str] = {}


def _name_lit(name: bytes) -> str:
    lit = _NAME_CACHE.get(name)
    if lit is None:
        lit = string(name.decode("utf-8", "replace"))
        if len(_NAME_CACHE) < 50_000:
            _NAME_CACHE[name] = lit
    return lit


class _Src:
    """Where the occurrences of a binding's source expression sit in the occurrence list."""

    __slots__ = ("start", "end")

    def __init__(self, start: int):
        self.start, self.end = start, start


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
    fragments already written); ``clause_s`` the clause IRI in ``<>`` form."""
    if body is None:
        return  # a bodiless head: nothing flows
    _Walker(ex, clause_s).run(params, guard, body)


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
        stack.extend([(_PAT, p, head) for p in reversed(params)])
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
                        push((_EXPR, left, None))  # `x |> f`: f is a call, not a variable
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
                    if first == 38 and operand.type == "binary_operator":  # &
                        ok = operand.named_children
                        if len(ok) == 2 and ok[1].type == "integer" and _operator(src, operand, ok[0], ok[1]) == b"/":
                            continue  # &name/2: a capture of a function by name
                    push((_EXPR, operand, None))
                elif t == "anonymous_function":
                    for k in reversed(node.named_children):
                        if k.type == "stab_clause":
                            self.stab(k, None, stack, pattern=True)
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
            elif op == _ENTER:
                saved.append(env)
                env = dict(env)
            elif op == _LEAVE:
                env = saved.pop()
            elif op == _SRC_START:
                frame.start = frame.end = len(occ)
            elif op == _SRC_END:
                frame.end = len(occ)
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
            stack.append((_EXPR, guard, None))
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
                    stack.append((_EXPR, guard, None))
                stack.append((_COMMIT, None, frame))
                stack.append((_PAT, pat, frame))
            else:
                stack.append((_EXPR, left, None))
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

    def call(self, node, stack, env) -> None:
        kids = node.named_children
        target = kids[0]
        args = do = None
        for k in kids[1:]:
            kt = k.type
            if kt == "arguments":
                args = k
            elif kt == "do_block":
                do = k
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
                push((_SRC_END, None, src))
                push((_EXPR, al[0], None))
                push((_SRC_START, None, src))
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
                push((_EXPR, al[0], None))  # the condition's bindings stay after the if
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
        # an ordinary call (or a macro we do not know): arguments are read; a do-block is
        # its own scope
        if do is not None:
            self.branch_blocks(do, stack, None, pattern=True)
        for a in reversed(al):
            push((_EXPR, a, None))
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
        for c in reversed(clauses):
            gen = c
            if c.type == "bitstring":  # for <<c <- bin>>
                inner = [k for k in c.named_children if k.type != "comment"]
                if len(inner) == 1:
                    gen = inner[0]
            if gen.type == "binary_operator":
                gk = gen.named_children
                if len(gk) == 2 and _operator(self.src, gen, gk[0], gk[1]) == b"<-":
                    self.bound(gk[0], gk[1], stack)
                    continue
            push((_EXPR, c, None))  # a filter, or a `x = e` match (walked as one)
        push((_SRC_START, None, all_src))
        push((_ENTER, None, None))
