"""Model configurations: the named sizes (tiny/small/base/large) and the knowledge-injection switches.

Owns :class:`ElixirCoderConfig`, a plain dataclass serialised as ``elixir_coder.json`` next to
the weights. It builds the ``transformers`` ``BertConfig`` of the encoder and of the decoder
(``is_decoder`` + ``add_cross_attention``) and says how K-BERT injection and the GNN behave.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "elixir_coder.json"

# name -> (hidden, encoder layers, decoder layers, heads, intermediate, gnn hidden, gnn layers)
SIZES: dict[str, dict] = {
    # <= 5M parameters even with a 32K vocabulary (CPU tests, the README's minutes-long demo)
    "tiny": dict(hidden_size=96, encoder_layers=2, decoder_layers=2, num_heads=4, intermediate_size=384,
                 gnn_hidden=64, gnn_layers=2, max_source_len=256, max_target_len=128),
    # ~30M with a 16-32K vocabulary
    "small": dict(hidden_size=384, encoder_layers=6, decoder_layers=6, num_heads=6, intermediate_size=1536,
                  gnn_hidden=128, gnn_layers=2, max_source_len=512, max_target_len=256),
    # ~125M
    "base": dict(hidden_size=768, encoder_layers=7, decoder_layers=7, num_heads=12, intermediate_size=3072,
                 gnn_hidden=256, gnn_layers=3, max_source_len=512, max_target_len=256),
    # ~350M (the seed's range)
    "large": dict(hidden_size=1024, encoder_layers=12, decoder_layers=12, num_heads=16, intermediate_size=4096,
                  gnn_hidden=256, gnn_layers=3, max_source_len=512, max_target_len=256),
}


class ConfigError(ValueError):
    """A configuration a user asked for that does not exist or does not make sense."""


@dataclass
class ElixirCoderConfig:
    name: str = "tiny"
    vocab_size: int = 32000
    hidden_size: int = 96
    encoder_layers: int = 2
    decoder_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 384
    dropout: float = 0.1
    max_position_embeddings: int = 1024
    max_source_len: int = 256
    max_target_len: int = 128
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2
    # --- K-BERT knowledge injection (the ablation switches) ---
    knowledge: bool = True          # False: no branches, no graph tokens (plain encoder)
    visible_matrix: bool = True     # False: branches injected but visible to every token
    gnn: bool = True                # False: no <graph> soft tokens
    max_entities: int = 8           # mentioned entities that get branches, per input
    max_triples: int = 3            # triples per entity branch
    max_branch_tokens: int = 12     # tokens per triple branch
    hops: int = 1                   # k of the KG subgraph around the mentioned entities
    max_graph_nodes: int = 64
    max_knowledge_tokens: int = 64  # extra encoder tokens knowledge may add to one input ...
    knowledge_ratio: float = 0.2    # ... and at most this fraction of its text tokens ...
    min_knowledge_tokens: int = 24  # ... but never fewer than this (short prompts keep their facts)
    dataflow: bool = True           # add functions' data-flow variables to the subgraph
    # --- GNN ---
    gnn_hidden: int = 64
    gnn_layers: int = 2
    gnn_max_label_tokens: int = 8
    extra: dict = field(default_factory=dict)

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def named(cls, name: str, **overrides) -> "ElixirCoderConfig":
        if name not in SIZES:
            raise ConfigError(f"unknown model config {name!r}; choose one of {', '.join(SIZES)}")
        return cls(name=name, **{**SIZES[name], **overrides})

    def replace(self, **changes) -> "ElixirCoderConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.max_source_len > self.max_position_embeddings:
            raise ConfigError("max_source_len exceeds max_position_embeddings")

    # ---- transformers configs ----------------------------------------------------------------
    def _bert(self, layers: int, decoder: bool):
        from transformers import BertConfig

        cfg = BertConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_hidden_layers=layers,
            num_attention_heads=self.num_heads, intermediate_size=self.intermediate_size,
            hidden_dropout_prob=self.dropout, attention_probs_dropout_prob=self.dropout,
            max_position_embeddings=self.max_position_embeddings, type_vocab_size=1,
            pad_token_id=self.pad_token_id, bos_token_id=self.bos_token_id, eos_token_id=self.eos_token_id,
            is_decoder=decoder, add_cross_attention=decoder, tie_word_embeddings=True,
        )
        # the visible matrix is a boolean 4-D mask: SDPA takes it as is
        cfg._attn_implementation = "sdpa"
        return cfg

    def encoder_config(self):
        return self._bert(self.encoder_layers, decoder=False)

    def decoder_config(self):
        return self._bert(self.decoder_layers, decoder=True)

    # ---- files ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, directory: str | Path) -> None:
        Path(directory, CONFIG_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "ElixirCoderConfig":
        path = Path(directory, CONFIG_FILE)
        if not path.exists():
            raise ConfigError(f"{directory}: no {CONFIG_FILE} here (not a saved Elixir Coder model)")
        data = json.loads(path.read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
