"""Deduplication: exact (normalised content hash) and near-duplicate (MinHash LSH).

Owns the shingling (token 5-grams of Elixir text), the MinHash parameters and which copy is
kept: records are visited in a stable order (project, version, path) and the first one seen
is kept; every removed record is reported with the record it duplicates and the similarity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from model.corpus.records import normalised_hash

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[?!]?|\d+|\S")


@dataclass
class DedupConfig:
    threshold: float = 0.85   # Jaccard similarity on token shingles
    shingle: int = 5          # tokens per shingle
    num_perm: int = 128


def shingles(text: str, k: int) -> set[bytes]:
    toks = _TOKEN.findall(text)
    if len(toks) < k:
        return {" ".join(toks).encode("utf-8")}
    return {" ".join(toks[i:i + k]).encode("utf-8") for i in range(len(toks) - k + 1)}


def minhash(text: str, cfg: DedupConfig) -> MinHash:
    m = MinHash(num_perm=cfg.num_perm, seed=1)
    m.update_batch(list(shingles(text, cfg.shingle)))
    return m


def _name(rec: dict) -> str:
    return f"{rec['project']}@{rec['version']}/{rec['path']}"


def dedup(records: list[dict], cfg: DedupConfig, progress=None) -> tuple[list[dict], dict[str, list[dict]]]:
    """(kept, {"exact": [...], "near": [...]}) — each removed entry names what it duplicates."""
    order = sorted(records, key=lambda r: (r["project"], r["version"], r["path"]))
    seen: dict[str, dict] = {}
    after_exact: list[dict] = []
    removed = {"exact": [], "near": []}
    for rec in order:
        h = normalised_hash(rec["text"])
        rec["_nhash"] = h
        if h in seen:
            removed["exact"].append({"path": _name(rec), "duplicate_of": _name(seen[h]), "similarity": 1.0})
        else:
            seen[h] = rec
            after_exact.append(rec)
    if not 0 < cfg.threshold <= 1:
        raise ValueError(f"near-duplicate threshold {cfg.threshold} is not in (0, 1]")
    # LSH finds candidates (its banding cannot go above ~0.95 with 128 permutations); each
    # candidate is then checked against the real threshold with the MinHash estimate.
    lsh = MinHashLSH(threshold=min(cfg.threshold, 0.9), num_perm=cfg.num_perm)
    hashes: dict[str, tuple[MinHash, dict]] = {}
    kept: list[dict] = []
    for i, rec in enumerate(after_exact):
        m = minhash(rec["text"], cfg)
        best = None
        for key in lsh.query(m):
            sim = m.jaccard(hashes[key][0])
            if sim >= cfg.threshold and (best is None or sim > best[0]):
                best = (sim, hashes[key][1])
        if best:
            removed["near"].append({"path": _name(rec), "duplicate_of": _name(best[1]),
                                    "similarity": round(best[0], 3)})
        else:
            key = str(i)
            lsh.insert(key, m)
            hashes[key] = (m, rec)
            kept.append(rec)
        if progress:
            progress(i + 1, len(after_exact))
    return kept, removed
