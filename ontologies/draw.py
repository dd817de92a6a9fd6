"""Draws ontologies/classes.png, the picture of the main classes and relations in README.md,
from the Turtle files: boxes are classes, grey arrows rdfs:subClassOf, blue arrows object
properties from their domain to their range (named classes only). Run after changing the
ontologies:  .venv/bin/python ontologies/draw.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rdflib import Graph, URIRef  # noqa: E402
from rdflib.namespace import OWL, RDF, RDFS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import ontologies as o  # noqa: E402

# Hand-placed layout (x, y) of the classes worth a box; everything else is left out.
LAYOUT = {
    "ec:Project": (0, 9), "ec:SourceFile": (3, 9), "ec:SourceSpan": (6, 9),
    "ec:CallTarget": (11.5, 9), "ec:CodeElement": (8.5, 8.5),
    "ec:Module": (3, 6.5), "otp:Behaviour": (0, 7.5), "otp:Callback": (0, 5.5),
    "ec:Protocol": (5.5, 7.6), "test:TestModule": (0.6, 3.8), "otp:GenServerImplementation": (3, 4.4),
    "ec:Function": (8, 6.5), "ec:FunctionClause": (8, 4.5), "ec:Parameter": (11.5, 5.5),
    "ec:Variable": (11.5, 3.5), "ec:CallSite": (6, 2.5), "test:TestCase": (2.5, 1.5),
    "ec:Directive": (0, 2.2), "ec:Spec": (11.5, 7.2), "ec:Struct": (5, 5.2), "otp:ImplDeclaration": (11.5, 1.6),
}
SKIP_EDGES = {"definesModule", "hasCallSite", "hasDirective", "definesFunction", "hasTemplate",
              "hasVariable", "hasTest", "hasAssertion", "definesType", "hasAttribute", "definesCallback",
              "hasClause", "implOf", "specOf", "definesStruct", "supervisedBy", "nestedIn"}


def short(node) -> str | None:
    for v in (o.EC, o.OTP, o.TEST, o.QUALITY, o.SECURITY):
        if str(node).startswith(v.iri):
            return f"{v.prefix}:{str(node)[len(v.iri):]}"
    return None


def main(out: Path = Path(__file__).resolve().parent / "classes.png") -> None:
    g = Graph()
    for path in o.FILES.values():
        g.parse(path)
    fig, ax = plt.subplots(figsize=(16, 10))
    ax.set_xlim(-1.5, 13.5)
    ax.set_ylim(0.5, 10)
    ax.axis("off")
    # subclass arrows
    for c, _, sup in g.triples((None, RDFS.subClassOf, None)):
        a, b = short(c), short(sup) if isinstance(sup, URIRef) else None
        if a in LAYOUT and b in LAYOUT:
            ax.annotate("", xy=LAYOUT[b], xytext=LAYOUT[a],
                        arrowprops=dict(arrowstyle="-|>", color="0.6", lw=1.2, ls="--", shrinkA=12, shrinkB=12))
    # object properties between drawn classes
    loops: dict[str, int] = {}
    for p in g.subjects(RDF.type, OWL.ObjectProperty):
        name = short(p)
        dom, rng = short(g.value(p, RDFS.domain)), short(g.value(p, RDFS.range))
        if name is None or name.split(":")[1] in SKIP_EDGES or dom not in LAYOUT or rng not in LAYOUT:
            continue
        (x1, y1), (x2, y2) = LAYOUT[dom], LAYOUT[rng]
        if dom == rng:  # self-loops (data flow): stacked labels beside the box
            loops[dom] = loops.get(dom, 0) + 1
            ax.text(x1, y1 - 0.25 - 0.22 * loops[dom], f"↻ {name}", fontsize=7, color="tab:blue", ha="center")
            continue
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1),
                    arrowprops=dict(arrowstyle="-|>", color="tab:blue", lw=1, shrinkA=12, shrinkB=12,
                                    connectionstyle="arc3,rad=0.08"))
        ax.text((x1 + x2) / 2, (y1 + y2) / 2, name, fontsize=7, color="tab:blue", ha="center",
                bbox=dict(fc="white", ec="none", alpha=0.7, pad=0.5))
    for cls, (x, y) in LAYOUT.items():
        colour = {"ec": "#fde9c8", "otp": "#d8ecd0", "test": "#dfe3f5"}[cls.split(":")[0]]
        ax.text(x, y, cls, ha="center", va="center", fontsize=9, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="0.3"))
    ax.set_title("Elixir Coder ontologies: main classes (boxes), subclass (grey dashed), "
                 "object properties domain → range (blue)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
