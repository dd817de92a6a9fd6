"""The composite model: encoder-decoder transformer + GNN + K-BERT injection + tokenizer.

Owns :class:`ElixirCoder` (contract 3): a ``transformers`` ``EncoderDecoderModel`` built from
config (``BertModel`` encoder that takes soft ``position_ids`` and the visible matrix as a 4-D
mask, ``BertLMHeadModel`` decoder with cross-attention; word embeddings shared by encoder,
decoder and LM head), the GNN of ``encoders.gnn`` whose node embeddings replace the ``<graph>``
tokens, the :class:`model.kbert.KnowledgeInjector` settings, and the tokenizer. Saved as
``elixir_coder.json`` + ``model.safetensors`` + the tokenizer files in one directory.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from model.config import ConfigError, ElixirCoderConfig

WEIGHTS_FILE = "model.safetensors"

# EncoderDecoderModel warns on every call with labels about a 2021 change of its loss
warnings.filterwarnings("ignore", message="Version v4.12.0 introduces", category=FutureWarning)


def _load_tokenizer(directory: str | Path):
    try:
        from model.tokenizer import load_tokenizer
    except ImportError:
        from transformers import PreTrainedTokenizerFast
        return PreTrainedTokenizerFast.from_pretrained(str(directory))
    return load_tokenizer(directory)


class ElixirCoder(nn.Module):
    """Encoder-decoder transformer with K-BERT knowledge and GNN soft tokens.

    ``forward`` takes the batches of ``model.collators`` (or of :meth:`encode_texts`) and
    ``labels``; it returns the ``Seq2SeqLMOutput`` of the underlying ``EncoderDecoderModel``."""

    # forward returns the mean token loss itself (Trainer must not rescale it by token counts)
    accepts_loss_kwargs = False

    def __init__(self, config: ElixirCoderConfig, tokenizer):
        super().__init__()
        from transformers import BertLMHeadModel, BertModel, EncoderDecoderConfig, EncoderDecoderModel

        config.validate()
        self.config = config
        self.tokenizer = tokenizer
        enc_cfg, dec_cfg = config.encoder_config(), config.decoder_config()
        encoder = BertModel(enc_cfg, add_pooling_layer=False)
        decoder = BertLMHeadModel(dec_cfg)
        # one vocabulary: encoder, decoder and LM head share the word embeddings
        decoder.bert.embeddings.word_embeddings = encoder.embeddings.word_embeddings
        decoder.cls.predictions.decoder.weight = encoder.embeddings.word_embeddings.weight
        ed_cfg = EncoderDecoderConfig.from_encoder_decoder_configs(enc_cfg, dec_cfg)
        ed_cfg.decoder_start_token_id = config.bos_token_id
        ed_cfg.pad_token_id = config.pad_token_id
        ed_cfg.eos_token_id = config.eos_token_id
        ed_cfg.tie_word_embeddings = False
        self.seq2seq = EncoderDecoderModel(config=ed_cfg, encoder=encoder, decoder=decoder)
        gen = self.seq2seq.generation_config
        gen.decoder_start_token_id = config.bos_token_id
        gen.bos_token_id = config.bos_token_id
        gen.pad_token_id = config.pad_token_id
        gen.eos_token_id = config.eos_token_id
        gen.max_length = None
        gen.max_new_tokens = config.max_target_len
        self.gnn = None
        if config.gnn:
            from encoders.gnn import GraphEncoder
            self.gnn = GraphEncoder(config.vocab_size, config.hidden_size, hidden=config.gnn_hidden,
                                    layers=config.gnn_layers, pad_id=config.pad_token_id,
                                    token_dim=config.hidden_size)
        self._injectors: dict[int, object] = {}

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def from_config(cls, name_or_config: str | ElixirCoderConfig, tokenizer, **overrides) -> "ElixirCoder":
        """A freshly initialised model of a named size ("tiny", "small", "base", "large") or a
        config, with the vocabulary and special-token ids of ``tokenizer``."""
        if isinstance(name_or_config, str):
            config = ElixirCoderConfig.named(name_or_config, **overrides)
        else:
            config = name_or_config.replace(**overrides) if overrides else name_or_config
        for attr in ("pad_token_id", "bos_token_id", "eos_token_id"):
            if getattr(tokenizer, attr) is None:
                raise ConfigError(f"the tokenizer has no {attr.removesuffix('_id')} token "
                                  "(train it with model.tokenizer.train_tokenizer)")
        config = config.replace(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
        return cls(config, tokenizer)

    def save_pretrained(self, directory: str | Path) -> None:
        from safetensors.torch import save_model

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory)
        save_model(self, str(directory / WEIGHTS_FILE))
        self.tokenizer.save_pretrained(str(directory))

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu",
                        **overrides) -> "ElixirCoder":
        """Load a saved model; ``overrides`` change injection switches (``knowledge=False`` ...)
        that do not change the weights' shapes."""
        from safetensors.torch import load_model

        directory = Path(directory)
        if not (directory / WEIGHTS_FILE).exists():
            raise ConfigError(f"{directory}: no {WEIGHTS_FILE} here (not a saved Elixir Coder model)")
        config = ElixirCoderConfig.load(directory)
        gnn_override = overrides.pop("gnn", None)
        config = config.replace(**overrides) if overrides else config
        model = cls(config, _load_tokenizer(directory))
        load_model(model, str(directory / WEIGHTS_FILE), device=str(map_location))
        if gnn_override is False:
            model.config = model.config.replace(gnn=False)
            model.gnn = None
        return model.eval()

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (shared embeddings counted once)."""
        params = {id(p): p for p in self.parameters()}
        if exclude_embeddings:
            for m in self.modules():
                if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
                    params.pop(id(m.weight), None)
        return sum(p.numel() for p in params.values())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---- knowledge -------------------------------------------------------------------------------
    def injector(self, kg=None):
        """The :class:`model.kbert.KnowledgeInjector` for ``kg`` (cached per KG object)."""
        from model.kbert import KnowledgeInjector

        key = id(kg)
        inj = self._injectors.get(key)
        if inj is None or inj.kg is not kg or inj.config is not self.config:
            inj = KnowledgeInjector(self.tokenizer, self.config, kg if self.config.knowledge else None)
            self._injectors[key] = inj
        return inj

    def encode_texts(self, texts: list[str], kg=None, max_len: int | None = None) -> dict:
        """Tokenised encoder inputs (sentence trees when ``kg`` is given and knowledge is on)."""
        return self.injector(kg).encode_texts(list(texts), max_len)

    # ---- forward ---------------------------------------------------------------------------------
    def encode(self, input_ids, attention_mask, position_ids=None, visible=None, graph=None,
               graph_index=None) -> BaseModelOutput:
        encoder = self.seq2seq.encoder
        embeds = encoder.embeddings.word_embeddings(input_ids)
        if graph is not None and graph_index is not None and self.gnn is not None and len(graph_index):
            nodes = self.gnn.encode(graph.to(input_ids.device), encoder.embeddings.word_embeddings).to(embeds.dtype)
            gi = graph_index.to(input_ids.device)
            embeds = embeds.index_put((gi[:, 0], gi[:, 1]), nodes[gi[:, 2]])
        if visible is not None:
            mask = visible.to(input_ids.device)
            if mask.dtype != torch.bool:
                mask = mask.bool()
        else:
            mask = attention_mask
        if position_ids is None:
            position_ids = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0).expand_as(input_ids)
        out = encoder(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids,
                      token_type_ids=torch.zeros_like(input_ids), return_dict=True)
        return BaseModelOutput(last_hidden_state=out.last_hidden_state)

    def forward(self, input_ids, attention_mask, position_ids=None, visible=None, graph=None,
                graph_index=None, labels=None, decoder_attention_mask=None, **_):
        enc = self.encode(input_ids, attention_mask, position_ids, visible, graph, graph_index)
        return self.seq2seq(encoder_outputs=enc, attention_mask=attention_mask, labels=labels,
                            decoder_attention_mask=decoder_attention_mask, return_dict=True)

    # ---- generation ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, texts: list[str], kg=None) -> dict:
        """Keyword arguments for ``generate``: ``encoder_outputs`` (knowledge from ``kg``
        injected when given and enabled) and ``attention_mask`` (the encoder's padding mask,
        used by cross-attention)."""
        batch = self.encode_texts(texts, kg)
        batch = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in batch.items()}
        enc = self.encode(**batch)
        return {"encoder_outputs": enc, "attention_mask": batch["attention_mask"]}

    @torch.no_grad()
    def generate_ids(self, texts: list[str], kg=None, logits_processor=None, **generate_kwargs) -> torch.LongTensor:
        """Decoder token ids, one row per text (times ``num_return_sequences``), starting with
        the decoder start token (``<s>``) and ending at ``</s>`` or padding."""
        kwargs = self.encode_prompt(list(texts), kg)
        generate_kwargs.setdefault("max_new_tokens", self.config.max_target_len)
        if logits_processor is not None:
            generate_kwargs["logits_processor"] = logits_processor
        return self.seq2seq.generate(**kwargs, decoder_start_token_id=self.config.bos_token_id,
                                     pad_token_id=self.config.pad_token_id, **generate_kwargs)
