"""Elixir Coder: the public Python API.

Re-exports the few names users need; the logic lives in the stage packages (DESIGN.md)::

    from elixir_coder import KnowledgeGraph, build_kg

    kg = KnowledgeGraph.open("/tmp/kg")
    summary = build_kg(kg, "path/to/project")          # incremental, crash-safe
    for row in kg.query("SELECT ?m WHERE { ?m a ec:Module }"):
        print(row["m"])
"""

from kg.build import BuildSummary
from kg.build import build as build_kg
from ontologies import EC, OTP, QUALITY, SECURITY, TEST
from sparql.named import get as named_query
from sparql.store import KnowledgeGraph, StoreError

__version__ = "0.1.0"


def __getattr__(name: str):
    # Coder pulls in torch and transformers: imported on first use, so that the KG commands
    # (which import this package through the CLI) start fast.
    if name == "Coder":
        from model.coder import Coder
        return Coder
    raise AttributeError(f"module 'elixir_coder' has no attribute {name!r}")

__all__ = ["Coder", "KnowledgeGraph", "StoreError", "build_kg", "BuildSummary", "named_query",
           "EC", "OTP", "TEST", "QUALITY", "SECURITY", "__version__"]
