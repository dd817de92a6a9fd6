"""The one place that spells Elixir Coder IRIs.

Owns the ontology namespaces (one per ontology module), the paths of the Turtle files, and the
minting of stable, version-independent IRIs for code entities (DESIGN.md: "Identity"). Nothing
else in the project writes an ontology IRI as a string: import the term from here.

A :class:`Vocabulary` is closed: ``EC.Functoin`` raises ``AttributeError`` instead of minting a
term nobody declared, and the ontology tests check that every term listed here is declared in the
Turtle file of its module with a label and a definition.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from pyoxigraph import NamedNode

BASE = "https://w3id.org/elixir-coder/"
VERSION = "0.1.0"
ONTOLOGY_DIR = Path(__file__).resolve().parent

#: Ontology module name -> Turtle file.
FILES: dict[str, Path] = {
    name: ONTOLOGY_DIR / f"{name}.ttl" for name in ("core", "otp", "testing", "quality", "security")
}
SHAPES_FILE = ONTOLOGY_DIR / "shapes.ttl"


class Vocabulary:
    """A closed namespace: attribute access returns the term's :class:`NamedNode`."""

    def __init__(self, prefix: str, iri: str, terms: str):
        self.prefix = prefix
        self.iri = iri
        self.terms = tuple(terms.split())
        self._nodes = {t: NamedNode(iri + t) for t in self.terms}

    def __getattr__(self, name: str) -> NamedNode:
        try:
            return self.__dict__["_nodes"][name]
        except KeyError:
            raise AttributeError(f"{name!r} is not a term of the {self.__dict__.get('prefix')} vocabulary") from None

    def __getitem__(self, name: str) -> NamedNode:
        return self.__getattr__(name)

    def __contains__(self, node: object) -> bool:
        return isinstance(node, NamedNode) and node.value.startswith(self.iri) and node.value[len(self.iri):] in self._nodes

    def __iter__(self):
        return iter(self._nodes.values())

    def __repr__(self) -> str:
        return f"Vocabulary({self.prefix}: <{self.iri}>, {len(self.terms)} terms)"


def ontology_iri(module: str) -> str:
    return f"{BASE}ontology/{module}"


def version_iri(module: str, version: str = VERSION) -> str:
    return f"{BASE}ontology/{version}/{module}"


# Classes start upper case, properties lower case. Keep each list in step with its .ttl file.
EC = Vocabulary("ec", ontology_iri("core") + "#", """
    CodeElement Project SourceFile SourceSpan ParseProblem
    Module Protocol ProtocolImplementation
    Function FunctionClause Parameter
    CallSite LocalCall RemoteCall ImportedCall ErlangCall CaptureCall PipeCall CallTarget
    Directive Alias Import Require Use
    ModuleAttribute Spec TypeSpec
    Struct StructField Exception
    Variable QuoteTemplate

    name fullName arity kind visibility dynamicName operator
    partOfProject projectName projectVersion
    relativePath contentHash lineCount parseStatus hasParseProblem message
    hasSpan inFile startLine startColumn endLine endColumn
    definesModule inModule nestedIn definesFunction hasClause inFunction clauseOrder
    hasParameter parameterPosition parameterText defaultValue guardText bodiless
    hasCallSite inClause inModuleBody callArity calledName calledModule candidateTarget resolvesTo
    viaPipe isCapture
    hasDirective directiveTarget aliasAs onlyOption exceptOption useOptions
    dependsOn
    moduledoc moduledocHidden doc docHidden deprecated
    hasAttribute attributeName attributeValue
    hasSpec specOf specText
    definesType typeKind typeText
    definesStruct structOf hasField fieldName fieldDefault enforced
    protocol implementsProtocol forType delegatesTo
    hasTemplate
    hasVariable variableName comesFrom computedFrom flowsTo
    inFileBody
    generated generator
    argumentVariable resultOf ofParameter
""")

OTP = Vocabulary("otp", ontology_iri("otp") + "#", """
    Behaviour Callback MacroCallback ImplDeclaration
    GenServerImplementation SupervisorImplementation DynamicSupervisorImplementation
    ApplicationImplementation GenStatemImplementation GenEventImplementation
    ChildSpec SupervisionStrategy RestartKind
    definesCallback callbackOf optional implementsBehaviour implementsCallback
    hasImpl implValue implOf
    hasChildSpec childModule childArgs strategy restart shutdown supervisedBy
    OneForOne OneForAll RestForOne Permanent Transient Temporary
""")

TEST = Vocabulary("test", ontology_iri("testing") + "#", """
    TestModule TestCase DescribeBlock Setup Doctest PropertyTest LiveViewTest Assertion
    async testName inDescribe describeName hasTest hasSetup setupKind
    hasAssertion assertionKind inTest exercises doctestOf checkAll
""")

QUALITY = Vocabulary("q", ontology_iri("quality") + "#", """
    Finding Rule Category Severity
    rule category severity about ruleId findingMessage
    Consistency Design Readability Refactor Warning High Medium Low
""")

SECURITY = Vocabulary("sec", ontology_iri("security") + "#", """
    SecurityFinding VulnerabilityClass Source Sink
    vulnerabilityClass cwe isSource isSink sinkFunction
    sourceFunction
    CommandInjection Config DenialOfService Misc RemoteCodeExecution SQLInjection Traversal XSS
    VulnerableDependency
    SystemCmdSink OsCmdSink CodeEvalSink StringToAtomSink BinaryToTermSink FileReadSink SqlQuerySink
    HtmlRawSink IoGetsSource ReadBodySource
""")

SHAPES = Vocabulary("ecsh", f"{BASE}shapes#", "")

#: Bookkeeping terms of the build (file hashes, owned subjects) kept in the meta graph; not an
#: ontology users query, so it lives outside the ontology files.
META = Vocabulary("meta", f"{BASE}meta#", """
    SourceRecord graph path contentHash mtime size subjects triples modules functions callSites tests needsResolution bulkBuild
""")

ID = BASE + "id/"
GRAPH = BASE + "graph/"
META_GRAPH = NamedNode(GRAPH + "_meta")

PREFIXES: dict[str, str] = {
    "ec": EC.iri,
    "otp": OTP.iri,
    "test": TEST.iri,
    "q": QUALITY.iri,
    "sec": SECURITY.iri,
    "id": ID,
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
}


def sparql_prefixes() -> str:
    """PREFIX lines for every namespace above, for queries written by hand."""
    return "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items())


# ---- IRIs of code entities --------------------------------------------------------------
# Segments are percent-encoded exactly like SPARQL's ENCODE_FOR_URI (everything but
# unreserved characters), so a query can rebuild an IRI from literals when it must.

def _seg(text: str) -> str:
    return quote(text, safe="")


def module_iri(module: str) -> NamedNode:
    """``Enum`` -> ``…/id/module/Enum``; Erlang modules keep their colon: ``:ets``."""
    return NamedNode(f"{ID}module/{_seg(module)}")


def function_iri(module: str, name: str, arity: int) -> NamedNode:
    return NamedNode(f"{ID}function/{_seg(module)}/{_seg(name)}/{arity}")


def clause_iri(module: str, name: str, arity: int, order: int) -> NamedNode:
    return NamedNode(f"{ID}function/{_seg(module)}/{_seg(name)}/{arity}/clause/{order}")


def callback_iri(module: str, name: str, arity: int) -> NamedNode:
    return NamedNode(f"{ID}callback/{_seg(module)}/{_seg(name)}/{arity}")


def type_iri(module: str, name: str, arity: int) -> NamedNode:
    return NamedNode(f"{ID}type/{_seg(module)}/{_seg(name)}/{arity}")


def struct_iri(module: str) -> NamedNode:
    return NamedNode(f"{ID}struct/{_seg(module)}")


def project_iri(project: str, version: str) -> NamedNode:
    return NamedNode(f"{ID}project/{_seg(project)}@{_seg(version)}")


def graph_iri(project: str, version: str) -> NamedNode:
    """The named graph holding what one source (project@version) says."""
    return NamedNode(f"{GRAPH}{_seg(project)}@{_seg(version)}")


def beam_graph_iri(app: str, version: str) -> NamedNode:
    """The named graph of an installed app as the BEAM says (``kg stdlib``). Kept apart from
    :func:`graph_iri` so that the source of Elixir built as ``elixir@1.14.0`` and the
    installed ``elixir`` app never overwrite each other."""
    return NamedNode(f"{GRAPH}beam/{_seg(app)}@{_seg(version)}")


def findings_graph_iri(source_graph: NamedNode | str) -> NamedNode:
    """The graph of the quality and security findings about one source graph
    (``…/graph/findings/shop@0.1.0``), replaced whole by each ``elixir-coder check``."""
    g = source_graph.value if isinstance(source_graph, NamedNode) else source_graph
    return NamedNode(GRAPH + "findings/" + (g[len(GRAPH):] if g.startswith(GRAPH) else g.rsplit("/", 1)[-1]))


def rule_iri(rule_id: str) -> NamedNode:
    """A quality or security rule (``warning/missing-callback``): individuals of the data
    namespace, declared in quality.ttl / security.ttl, so that the closed ontology vocabularies
    stay classes and properties."""
    return NamedNode(f"{ID}rule/{quote(rule_id, safe='/')}")


def inferred_graph_iri(source_graph: NamedNode | str) -> NamedNode:
    """The graph ``elixir-coder kg reason`` derives from one source graph."""
    g = source_graph.value if isinstance(source_graph, NamedNode) else source_graph
    return NamedNode(GRAPH + "inferred/" + (g[len(GRAPH):] if g.startswith(GRAPH) else g.rsplit("/", 1)[-1]))


def file_iri(project: str, version: str, path: str) -> NamedNode:
    """A source file; every node that only exists in that file (call sites, spans, variables,
    directives...) gets an IRI below it: ``file_iri(...).value + '#...'``."""
    return NamedNode(f"{ID}file/{_seg(project)}@{_seg(version)}/{quote(path, safe='/')}")


def local_iri(file: NamedNode, fragment: str) -> NamedNode:
    return NamedNode(f"{file.value}#{fragment}")


__all__ = [
    "BASE", "VERSION", "FILES", "SHAPES_FILE", "ONTOLOGY_DIR", "Vocabulary",
    "EC", "OTP", "TEST", "QUALITY", "SECURITY", "SHAPES", "META", "ID", "GRAPH", "META_GRAPH",
    "PREFIXES", "sparql_prefixes", "ontology_iri", "version_iri",
    "module_iri", "function_iri", "clause_iri", "callback_iri", "type_iri", "struct_iri",
    "project_iri", "graph_iri", "beam_graph_iri", "findings_graph_iri", "inferred_graph_iri", "rule_iri", "file_iri", "local_iri",
]
