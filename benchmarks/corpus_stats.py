"""Corpus statistics: files in, after each filter, after dedup; code-test pairs; doctest pairs;
tokens per split; test-type balance against the seed's 60/25/15.

Reads a corpus built by `elixir-coder corpus build` (default: the real default corpus in
~/.cache/elixir-coder/corpus/default) and re-counts from the records themselves (not only
stats.json): tokens per split with the tokenizer at --tokenizer (default
~/.cache/elixir-coder/tokenizer/default).

    python benchmarks/corpus_stats.py [--corpus DIR] [--tokenizer DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CACHE = Path(os.environ.get("ELIXIR_CODER_CACHE") or Path.home() / ".cache" / "elixir-coder")
SPLITS = ("train", "validation", "test")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(CACHE / "corpus" / "default"))
    ap.add_argument("--tokenizer", default=str(CACHE / "tokenizer" / "default"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from model.corpus import CorpusError, iter_files, iter_pairs, load_manifest
    from model.corpus.records import TARGET_BALANCE, normalised_hash

    try:
        manifest = load_manifest(args.corpus)
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    stats_path = Path(args.corpus) / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    tok = None
    if (Path(args.tokenizer) / "tokenizer.json").is_file():
        from model.tokenizer import load_tokenizer

        tok = load_tokenizer(args.tokenizer)

    result: dict = {"corpus": args.corpus, "sources": manifest["sources"],
                    "tokenizer": args.tokenizer if tok else None}
    c = manifest["counts"]
    result["files_in"] = c["files_in"]
    result["after_filters"] = c["after_filters"]
    result["removed"] = c["removed"]
    result["after_dedup"] = c["after_dedup"]
    per_split, hashes, types, projects = {}, {}, Counter(), {}
    pair_kinds, pair_methods = Counter(), Counter()
    for split in SPLITS:
        files = list(iter_files(args.corpus, split))
        pairs = list(iter_pairs(args.corpus, split))
        tokens = None
        if tok is not None:
            tokens = sum(len(tok(r["text"], add_special_tokens=False)["input_ids"]) for r in files)
        per_split[split] = {
            "files": len(files), "lines": sum(r["lines"] for r in files),
            "chars": sum(len(r["text"]) for r in files), "tokens": tokens,
            "test_files": sum(1 for r in files if r["is_test"]), "pairs": len(pairs),
            "pair_kinds": dict(Counter(p["kind"] for p in pairs)),
        }
        hashes[split] = {normalised_hash(r["text"]) for r in files}
        projects[split] = {r["project"] for r in files}
        types.update(r["test_type"] for r in files if r["test_type"])
        pair_kinds.update(p["kind"] for p in pairs)
        pair_methods.update(f"{p['kind']}:{p.get('method')}" for p in pairs)
    result["splits"] = per_split
    result["files_after_dedup_recounted"] = sum(s["files"] for s in per_split.values())
    result["pairs"] = {"total": sum(pair_kinds.values()), "code_test": pair_kinds["module_test"] + pair_kinds["function_test"],
                       "doctest": pair_kinds["doctest"], "by_kind": dict(pair_kinds), "by_method": dict(sorted(pair_methods.items()))}
    written = sum(types[t] for t in TARGET_BALANCE) or 1
    result["test_types"] = dict(types)
    result["test_balance"] = {t: {"files": types[t], "share": round(types[t] / written, 3), "target": share}
                              for t, share in TARGET_BALANCE.items()}
    result["leakage"] = {
        "content_hash_shared": {f"{a}/{b}": len(hashes[a] & hashes[b]) for a, b in
                                (("train", "validation"), ("train", "test"), ("validation", "test"))},
        "projects_shared": {f"{a}/{b}": sorted(projects[a] & projects[b]) for a, b in
                            (("train", "validation"), ("train", "test"), ("validation", "test"))},
    }
    result["build_seconds"] = stats.get("seconds")
    result["build_errors"] = stats.get("errors")

    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"corpus {args.corpus}  sources: {', '.join(result['sources'])}")
    print(f"files in: {result['files_in']}")
    prev = result["files_in"]
    for stage, n in result["after_filters"].items():
        print(f"  after {stage:<12} {n:>6}  (-{prev - n})")
        prev = n
    print(f"  after dedup        {result['after_dedup']:>6}  (-{prev - result['after_dedup']}: "
          f"exact {result['removed']['dedup_exact']}, near {result['removed']['dedup_near']})")
    print(f"{'split':<11}{'files':>7}{'lines':>10}{'chars':>11}{'tokens':>10}{'pairs':>7}")
    for split, s in per_split.items():
        print(f"{split:<11}{s['files']:>7}{s['lines']:>10}{s['chars']:>11}{str(s['tokens']):>10}{s['pairs']:>7}")
    p = result["pairs"]
    print(f"pairs: {p['total']} (code-test {p['code_test']}: module {p['by_kind'].get('module_test', 0)}, "
          f"function {p['by_kind'].get('function_test', 0)}; doctest {p['doctest']})  by method: {p['by_method']}")
    print(f"test types: {result['test_types']}")
    print("balance of written tests vs seed target: " + ", ".join(
        f"{t} {b['files']} = {b['share']:.0%} (target {b['target']:.0%})" for t, b in result["test_balance"].items()))
    print(f"leakage: {result['leakage']['content_hash_shared']}, projects shared {result['leakage']['projects_shared']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
