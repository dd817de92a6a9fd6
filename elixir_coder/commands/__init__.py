"""Sub-command registration. Each module adds its sub-commands and calls into the stages."""

from __future__ import annotations


def register(sub) -> None:
    from elixir_coder.commands import demo, kg, query

    kg.register(sub)
    query.register(sub)
    demo.register(sub)
    from elixir_coder.commands import check
    check.register(sub)
    from elixir_coder.commands import onto
    onto.register(sub)
