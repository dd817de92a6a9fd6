"""Constrained decoding: the Elixir syntax machine and logits processor (``syntax``) and the
KG monitor (``monitor``)."""

from model.constrained.syntax import ElixirPrefix, ParserOracle, SyntaxLogitsProcessor, is_complete, prefix_of

__all__ = ["ElixirPrefix", "ParserOracle", "SyntaxLogitsProcessor", "is_complete", "prefix_of"]
