"""Tokenizer quality on the real corpus: listed Elixir symbols single-token in code context,
unknown tokens, exact round trip for every corpus file, fertility (tokens per line and per
character) of the Elixir-aware BPE against a same-size plain byte-level BPE trained on the same
training split without the symbol list; optionally a sweep of vocabulary sizes.

    python benchmarks/tokenizer_quality.py [--corpus DIR] [--tokenizer DIR] [--vocab-size N]
        [--sweep 4096,8192,16384] [--json]

With --tokenizer (default ~/.cache/elixir-coder/tokenizer/default, when it exists) that
tokenizer is measured; otherwise one is trained here with --vocab-size. The baseline is always
trained here, with the measured tokenizer's vocabulary size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CACHE = Path(os.environ.get("ELIXIR_CODER_CACHE") or Path.home() / ".cache" / "elixir-coder")
SPLITS = ("train", "validation", "test")


def fertility(tok, texts) -> dict:
    n_tok = n_lines = n_chars = 0
    for t in texts:
        n_tok += len(tok(t, add_special_tokens=False)["input_ids"])
        n_lines += t.count("\n") + (0 if t.endswith("\n") else 1)
        n_chars += len(t)
    return {"tokens": n_tok, "tokens_per_line": round(n_tok / max(n_lines, 1), 3),
            "tokens_per_char": round(n_tok / max(n_chars, 1), 4)}


def usage(tok, texts) -> dict:
    """How much of the vocabulary the training texts use: entries seen < 10 times are barely
    trained (a sign the vocabulary is too big for the corpus)."""
    counts = Counter()
    for t in texts:
        counts.update(tok(t, add_special_tokens=False)["input_ids"])
    n = len(tok)
    return {"used": sum(1 for i in range(n) if counts[i]), "rare_lt10": sum(1 for i in range(n) if counts[i] < 10),
            "vocab": n}


def main() -> int:
    from model.tokenizer import DEFAULT_VOCAB_SIZE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(CACHE / "corpus" / "default"))
    ap.add_argument("--tokenizer", default=str(CACHE / "tokenizer" / "default"))
    ap.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
    ap.add_argument("--sweep", default="", help="comma-separated vocabulary sizes to compare (trains each)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from model.corpus import CorpusError, iter_files
    from model.tokenizer import SYMBOLS, check, load_tokenizer, symbol_examples, symbol_is_single_token, train_tokenizer

    try:
        texts = {s: [r["text"] for r in iter_files(args.corpus, s)] for s in SPLITS}
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    train = texts["train"]
    heldout = texts["validation"] + texts["test"]
    every = train + heldout
    result: dict = {"corpus": args.corpus, "files": {s: len(v) for s, v in texts.items()}}

    if (Path(args.tokenizer) / "tokenizer.json").is_file():
        tok = load_tokenizer(args.tokenizer)
        result["tokenizer"] = args.tokenizer
        result["train_seconds"] = None
    else:
        t0 = time.monotonic()
        tok = train_tokenizer(train, args.vocab_size)
        result["tokenizer"] = f"trained here (vocab {args.vocab_size})"
        result["train_seconds"] = round(time.monotonic() - t0, 1)
    size = len(tok)
    t0 = time.monotonic()
    base = train_tokenizer(train, size, symbols=False)
    result["baseline_train_seconds"] = round(time.monotonic() - t0, 1)

    full = check(tok, every)
    result["elixir_bpe"] = {
        "vocab": size, "round_trip_ok": full["round_trip_ok"], "round_trip_files": full["files"],
        "unknown_tokens": full["unknown_tokens"],
        "symbols_single": full["symbols_single"], "symbols_total": full["symbols_total"],
        "symbols_not_single": full["symbols_not_single"],
        "fertility_train": fertility(tok, train), "fertility_heldout": fertility(tok, heldout),
        "vocab_usage_train": usage(tok, train),
    }
    bcheck = check(base, every)
    base_single = [s for s, code, at in symbol_examples() if symbol_is_single_token(base, code, at, s)]
    result["plain_bpe"] = {
        "vocab": len(base), "round_trip_ok": bcheck["round_trip_ok"], "unknown_tokens": bcheck["unknown_tokens"],
        "symbols_single": len(base_single), "symbols_total": len(SYMBOLS),
        "fertility_train": fertility(base, train), "fertility_heldout": fertility(base, heldout),
    }
    if args.sweep:
        result["sweep"] = []
        for n in [int(x) for x in args.sweep.split(",") if x.strip()]:
            t0 = time.monotonic()
            t = train_tokenizer(train, n)
            result["sweep"].append({"vocab_size": n, "seconds": round(time.monotonic() - t0, 1),
                                    "heldout": fertility(t, heldout), "usage": usage(t, train)})

    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    e, b = result["elixir_bpe"], result["plain_bpe"]
    print(f"corpus {args.corpus}: files {result['files']}; tokenizer {result['tokenizer']} ({size} tokens)")
    print(f"symbols single-token in code context: {e['symbols_single']}/{e['symbols_total']} "
          f"(plain BPE: {b['symbols_single']}/{b['symbols_total']})")
    print(f"unknown tokens: {e['unknown_tokens']} (plain: {b['unknown_tokens']}); exact round trip: "
          f"{e['round_trip_ok']}/{e['round_trip_files']} files (plain: {b['round_trip_ok']})")
    print(f"{'fertility':<28}{'tokens/line':>12}{'tokens/char':>12}{'tokens':>10}")
    for name, r in (("elixir BPE, train", e["fertility_train"]), ("plain BPE, train", b["fertility_train"]),
                    ("elixir BPE, held-out", e["fertility_heldout"]), ("plain BPE, held-out", b["fertility_heldout"])):
        print(f"{name:<28}{r['tokens_per_line']:>12}{r['tokens_per_char']:>12}{r['tokens']:>10}")
    u = e["vocab_usage_train"]
    print(f"vocabulary use on train: {u['used']}/{u['vocab']} used, {u['rare_lt10']} seen < 10 times")
    for s in result.get("sweep", []):
        print(f"sweep vocab {s['vocab_size']}: held-out tokens/char {s['heldout']['tokens_per_char']}, "
              f"tokens/line {s['heldout']['tokens_per_line']}, rare entries {s['usage']['rare_lt10']}, {s['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
