"""Train/validation/test splits without leakage.

Owns the unit of splitting and the assignment. The unit is a *group*: a project (so a
module and its tests, and a function and its doctests, always land together). When the corpus
has fewer than ``MIN_GROUPS`` projects, one big project is split by top-level directory
instead, ``lib/<x>`` and ``test/<x>`` forming one group. Groups are assigned greedily,
largest first, to the split furthest below its target share of lines, so each split gets its
share as closely as whole groups allow (and, with at least as many groups as splits, no split
is left empty). :func:`leakage` checks the result by normalised
content hash: no text may appear in two splits.
"""

from __future__ import annotations

from collections import defaultdict

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = {"train": 0.9, "validation": 0.05, "test": 0.05}
MIN_GROUPS = 3


def directory_group(path: str) -> str:
    """The group of a path inside one project: its top-level directory, ``lib``/``test``/
    ``src`` stripped so that ``lib/foo/...`` and ``test/foo/...`` share the group ``foo``."""
    parts = path.split("/")
    if len(parts) > 1 and parts[0] in ("lib", "test", "src", "apps"):
        parts = parts[1:]
    head = parts[0]
    if len(parts) == 1:  # a file at that level: lib/foo.ex and test/foo_test.exs -> foo
        head = head.rsplit(".", 1)[0]
        head = head[:-5] if head.endswith("_test") else head
    return head


def group_key(project: str, path: str, by_directory: bool) -> str:
    return f"{project}/{directory_group(path)}" if by_directory else project


def assign(records: list[dict], fractions: dict[str, float] | None = None) -> dict[str, str]:
    """{group key: split}; sets ``record["split"]`` and ``record["_group"]`` in place."""
    fractions = fractions or DEFAULT_FRACTIONS
    projects = {r["project"] for r in records}
    by_directory = len(projects) < MIN_GROUPS
    sizes: dict[str, int] = defaultdict(int)
    for r in records:
        r["_group"] = group_key(r["project"], r["path"], by_directory)
        sizes[r["_group"]] += max(r["lines"], 1)
    total = sum(sizes.values()) or 1
    have = {s: 0 for s in SPLITS}
    mapping: dict[str, str] = {}
    order = sorted(sizes, key=lambda g: (-sizes[g], g))
    for i, g in enumerate(order):
        empty = [s for s in SPLITS if fractions.get(s, 0) > 0 and have[s] == 0]
        if empty and len(order) - i <= len(empty):
            # as many groups left as splits still empty: one each, so no split stays empty
            split = max(empty, key=lambda s: fractions[s])
        else:
            split = max(SPLITS, key=lambda s: (fractions.get(s, 0) * total - have[s], -SPLITS.index(s)))
        if fractions.get(split, 0) <= 0:
            split = "train"
        mapping[g] = split
        have[split] += sizes[g]
    for r in records:
        r["split"] = mapping[r["_group"]]
    return mapping


def leakage(records: list[dict], pairs: list[dict]) -> dict:
    """Content hashes found in more than one split (files by normalised text; pairs by code
    and by test). Empty lists mean no leakage."""
    from model.corpus.records import normalised_hash

    def cross(items):
        seen: dict[str, set[str]] = defaultdict(set)
        for split, text in items:
            seen[normalised_hash(text)].add(split)
        return sorted(h for h, s in seen.items() if len(s) > 1)

    return {
        "files": cross((r["split"], r["text"]) for r in records),
        "pair_code": cross((p["split"], p["code"]) for p in pairs),
        "pair_test": cross((p["split"], p["test"]) for p in pairs),
    }
