"""`elixir-coder tokenizer train`: train the Elixir-aware BPE on a corpus (model/tokenizer.py).

Reads the corpus's training split (model.corpus.iter_files), trains, checks the result on
the training texts (round trip, unknown tokens, symbols single tokens) and saves it with
``save_pretrained`` (tokenizer.json + tokenizer_config.json). Exit status: 0 trained, 1 the
corpus cannot be read or the training failed, 2 bad arguments.
"""

from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    from model.tokenizer import DEFAULT_VOCAB_SIZE

    p = sub.add_parser("tokenizer", help="train the Elixir-aware BPE tokenizer",
                       description="Train and check the byte-level BPE tokenizer.")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="SUBCOMMAND", required=True)
    t = tsub.add_parser(
        "train", help="train a tokenizer on a corpus",
        description="Train a byte-level BPE on the training split of a corpus built with "
                    "`elixir-coder corpus build`; Elixir symbols (operators, atoms, attributes, keywords, "
                    "sigils, ExUnit words) are single tokens; every special token of model/tokens.py is added. "
                    "Saved as DIR/tokenizer.json, loadable with transformers.PreTrainedTokenizerFast.")
    t.add_argument("--corpus", required=True, metavar="DIR", help="corpus directory (manifest.json)")
    t.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, metavar="N",
                   help=f"vocabulary size, special and symbol tokens included (default {DEFAULT_VOCAB_SIZE})")
    t.add_argument("--out", required=True, metavar="DIR", help="directory to save the tokenizer in")
    t.add_argument("--no-symbols", action="store_true",
                   help="plain byte-level BPE without the Elixir symbol list (the baseline)")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")
    t.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from model import corpus
    from model import tokenizer as tk

    if args.vocab_size <= 0:
        print("error: --vocab-size must be positive", file=sys.stderr)
        return 2
    try:
        manifest = corpus.load_manifest(args.corpus)
        texts = [r["text"] for r in corpus.iter_files(args.corpus, "train")]
    except (corpus.CorpusError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not texts:
        print(f"error: {args.corpus}: the training split has no files", file=sys.stderr)
        return 1
    show = not args.json and sys.stderr.isatty()
    if show:
        print(f"training on {len(texts)} files ({sum(map(len, texts))} characters) of {args.corpus}",
              file=sys.stderr)
    t0 = time.monotonic()
    try:
        tok = tk.train_tokenizer(texts, args.vocab_size, symbols=not args.no_symbols, show_progress=show)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - t0
    check = tk.check(tok, texts, symbols=not args.no_symbols, progress=show)
    try:
        tok.save_pretrained(args.out)
    except OSError as e:
        print(f"error: cannot write {args.out}: {e}", file=sys.stderr)
        return 1
    summary = {"out": args.out, "corpus": args.corpus, "corpus_sources": manifest.get("sources"),
               "files": len(texts), "vocab_size": len(tok), "requested_vocab_size": args.vocab_size,
               "symbols": not args.no_symbols, "train_seconds": round(seconds, 1), **check}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"saved {args.out}/tokenizer.json: {len(tok)} tokens, trained in {seconds:.1f} s on {len(texts)} files")
        print(f"round trip exact: {check['round_trip_ok']}/{check['files']} files; unknown tokens: "
              f"{check['unknown_tokens']}; symbols single-token: {check['symbols_single']}/{check['symbols_total']}; "
              f"tokens/line {check['tokens_per_line']:.2f}, tokens/char {check['tokens_per_char']:.3f}")
    return 0 if check["round_trip_ok"] == check["files"] else 1
