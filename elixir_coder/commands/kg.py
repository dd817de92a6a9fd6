"""`elixir-coder kg` (placeholder until its issue lands)."""


def register(sub) -> None:
    pass
