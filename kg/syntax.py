"""Small readers of tree-sitter-elixir nodes shared by the extractor and the data-flow pass."""

from __future__ import annotations


def call_parts(node):
    """A ``call`` node's (target, arguments or None, do_block or None)."""
    kids = node.named_children
    args = do = None
    for k in kids[1:]:
        kt = k.type
        if kt == "arguments":
            args = k
        elif kt == "do_block":
            do = k
    return kids[0], args, do
