"""Precision and recall of the check rules (reasoning/checks.py) on their fixtures.

Every rule has a positive fixture (lines marked ``expect: <rule>``) and a negative one under
tests/fixtures/checks/<category>/<rule>/; a finding on an unmarked line is a false positive, a
marked line without the finding a false negative. Fixtures are our own, so this measures
consistency with the intended behaviour of each rule, not precision on real code bases.

    .venv/bin/python benchmarks/check_precision.py [FIXTURES] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reasoning.checks import RULES, score_fixtures  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "checks"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixtures", nargs="?", default=str(DEFAULT))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    scores, misses = score_fixtures(Path(args.fixtures))
    tp = sum(s.tp for s in scores.values())
    fp = sum(s.fp for s in scores.values())
    fn = sum(s.fn for s in scores.values())
    total_p = tp / (tp + fp) if tp + fp else 1.0
    total_r = tp / (tp + fn) if tp + fn else 1.0
    if args.json:
        print(json.dumps({"rules": {r: {"tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision,
                                        "recall": s.recall} for r, s in scores.items()},
                          "precision": total_p, "recall": total_r,
                          "mismatches": [list(m) for m in misses]}, indent=2))
        return 0
    print(f"{'rule':40} {'tp':>3} {'fp':>3} {'fn':>3} {'precision':>9} {'recall':>7}")
    for r in sorted(scores):
        s = scores[r]
        flag = "" if r in RULES else "  (unknown rule)"
        print(f"{r:40} {s.tp:3} {s.fp:3} {s.fn:3} {s.precision:9.2f} {s.recall:7.2f}{flag}")
    print(f"{'all':40} {tp:3} {fp:3} {fn:3} {total_p:9.2f} {total_r:7.2f}")
    for m in misses:
        print("mismatch:", *m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
