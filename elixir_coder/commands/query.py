"""`elixir-coder query` (placeholder until its issue lands)."""


def register(sub) -> None:
    pass
