"""Special tokens shared by the tokenizer, the data collators, knowledge injection and generation.

One place spells them; everything else imports the names from here. The tokenizer adds every
token in ``ALL_SPECIAL`` (as special tokens, never split, never produced by BPE merges)."""

from __future__ import annotations

PAD = "<pad>"
BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
MASK = "<mask>"

# Span corruption sentinels (T5 style): the encoder sees <span_0> ... where spans were cut,
# the decoder writes <span_0> span <span_1> span ...
N_SENTINELS = 64
SENTINELS = tuple(f"<span_{i}>" for i in range(N_SENTINELS))

# Fill-in-the-middle (prefix-suffix-middle and suffix-prefix-middle orders).
FIM_PREFIX = "<fim_prefix>"
FIM_SUFFIX = "<fim_suffix>"
FIM_MIDDLE = "<fim_middle>"

# Task prefixes: the first encoder token says which objective / request this is.
TASKS = {
    "span": "<task_span>",
    "fim": "<task_fim>",
    "ident": "<task_ident>",         # identifier-aware masking
    "code2test": "<task_code2test>",
    "test2code": "<task_test2code>",
    "doc2code": "<task_doc2code>",
    "code2doc": "<task_code2doc>",
    "assert": "<task_assert>",       # assert completion
    "generate": "<task_generate>",   # prompt -> code at inference
    "explain": "<task_explain>",
}

# Knowledge injection (K-BERT sentence tree) and ontology context.
KG_OPEN = "<kg>"            # opens a branch of triples attached to an anchor token
KG_CLOSE = "</kg>"
ONTOLOGY = "<ontology>"     # the seed's [ONTOLOGY] context prefix
GRAPH = "<graph>"           # placeholder position for one GNN soft token
SEP = "<sep>"

ALL_SPECIAL: tuple[str, ...] = (
    PAD, BOS, EOS, UNK, MASK, *SENTINELS, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE,
    *TASKS.values(), KG_OPEN, KG_CLOSE, ONTOLOGY, GRAPH, SEP,
)
