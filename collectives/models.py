"""Model descriptions: a transformer's shape, its FLOPs per token and its parameters.

A :class:`Transformer` says what one layer computes; the step model
(:mod:`netemu.collectives.step`) turns it into compute time per micro-batch and into the
sizes of the collectives that move its activations, tokens and gradients.

FLOPs count multiply-adds as two and cover the matrix multiplications only (projections,
attention scores and values, MLP or experts, the output head), the convention of MFU
("model FLOPs", Chowdhery et al., PaLM, arXiv:2204.02311 App. B).  Training is three
times the forward pass (the backward computes input and weight gradients, each as costly as
the forward); activation recomputation adds one more forward, which MFU does not count.
Attention over a causal mask costs half the full matrix (FlashAttention's convention) or the
whole of it (Megatron's); both are reported, as [ISCA] Table 4 does.

Examples
--------
Six FLOPs per parameter per token, plus attention, for a dense model:

>>> m = MODELS["llama-13b"]
>>> round(m.params() / 1e9, 2)
13.02
>>> round(m.train_flops_per_token(2048, causal=False) / (6 * m.params()), 3)
1.052
"""

from dataclasses import dataclass, fields

from netemu.errors import ParameterError

__all__ = ["Transformer", "MODELS", "model_from_dict"]


@dataclass(frozen=True)
class Transformer:
    """A decoder-only transformer (dense or MoE, multi-head or multi-head latent attention).

    Attributes
    ----------
    name : str
    layers, hidden, heads, vocab : int
    ffn : int
        Intermediate size of a dense layer's MLP.
    gated : bool
        SwiGLU MLP (three matrices) rather than a two-matrix GELU MLP.
    kv_heads : int
        Key/value heads (grouped-query attention); 0 means ``heads``.
    head_dim : int
        0 means ``hidden // heads``.
    experts, shared_experts, topk, expert_ffn, dense_layers : int
        MoE: routed experts per MoE layer, shared experts, routed experts per token, an
        expert's intermediate size, and the number of leading dense layers.
    node_limit : int
        Node-limited routing: a token's routed experts lie on at most this many servers
        (0: no limit).
    q_lora, kv_lora, qk_nope, qk_rope, v_head : int
        Multi-head latent attention (DeepSeek-V2/V3); all 0 for standard attention.
    source : str
    """
    name: str
    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int
    gated: bool = True
    kv_heads: int = 0
    head_dim: int = 0
    experts: int = 0
    shared_experts: int = 0
    topk: int = 0
    expert_ffn: int = 0
    dense_layers: int = 0
    node_limit: int = 0
    q_lora: int = 0
    kv_lora: int = 0
    qk_nope: int = 0
    qk_rope: int = 0
    v_head: int = 0
    source: str = ""

    def __post_init__(self):
        for f in fields(self):
            if f.type is int or f.type == "int":
                v = getattr(self, f.name)
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise ParameterError(f"model {self.name!r}: {f.name} must be an integer "
                                         f">= 0, got {v!r}")
        for name in ("layers", "hidden", "heads", "vocab"):
            if getattr(self, name) < 1:
                raise ParameterError(f"model {self.name!r}: {name} must be >= 1, got "
                                     f"{getattr(self, name)!r}")
        if self.experts and not (1 <= self.topk <= self.experts and self.expert_ffn >= 1):
            raise ParameterError(f"model {self.name!r}: an MoE needs 1 <= topk <= experts and "
                                 f"expert_ffn >= 1, got topk={self.topk}, experts={self.experts},"
                                 f" expert_ffn={self.expert_ffn}")
        if not self.experts and not self.ffn:
            raise ParameterError(f"model {self.name!r}: a dense model needs ffn >= 1")

    # -- shape ------------------------------------------------------------------------------
    @property
    def moe(self):
        return self.experts > 0

    @property
    def mla(self):
        return self.kv_lora > 0

    def is_moe_layer(self, i):
        return self.moe and i >= self.dense_layers

    @property
    def moe_layers(self):
        return sum(self.is_moe_layer(i) for i in range(self.layers))

    def _hd(self):
        return self.head_dim or self.hidden // self.heads

    def _attn_params(self):
        h = self.hidden
        if self.mla:
            qk = self.qk_nope + self.qk_rope
            q = h * self.q_lora + self.q_lora * self.heads * qk if self.q_lora \
                else h * self.heads * qk
            kv = h * (self.kv_lora + self.qk_rope) + self.kv_lora * self.heads * (
                self.qk_nope + self.v_head)
            return q + kv + self.heads * self.v_head * h
        hd, kvh = self._hd(), self.kv_heads or self.heads
        return h * self.heads * hd * 2 + h * kvh * hd * 2

    def _attn_core_per_token(self, seq, causal):
        ctx = seq / 2 if causal else seq
        if self.mla:
            return 2 * ctx * self.heads * (self.qk_nope + self.qk_rope + self.v_head)
        return 4 * ctx * self.heads * self._hd()

    def _mlp_params(self, inter):
        return (3 if self.gated else 2) * self.hidden * inter

    def dense_params(self, i):
        """Parameters of layer ``i`` that every data-parallel rank holds (attention, dense MLP,
        shared experts, router)."""
        p = self._attn_params()
        if self.is_moe_layer(i):
            p += self.shared_experts * self._mlp_params(self.expert_ffn) + \
                self.hidden * self.experts
        else:
            p += self._mlp_params(self.ffn)
        return p

    def expert_params(self, i):
        """Routed-expert parameters of layer ``i`` (split over expert parallelism)."""
        return self.experts * self._mlp_params(self.expert_ffn) if self.is_moe_layer(i) else 0

    def embedding_params(self):
        """Input embedding and output head (untied)."""
        return 2 * self.vocab * self.hidden

    def params(self):
        """Total parameters."""
        return self.embedding_params() + sum(self.dense_params(i) + self.expert_params(i)
                                             for i in range(self.layers))

    def active_params(self):
        """Parameters one token uses."""
        act = self.embedding_params()
        for i in range(self.layers):
            act += self.dense_params(i)
            if self.is_moe_layer(i):
                act += self.topk * self._mlp_params(self.expert_ffn)
        return act

    # -- FLOPs ------------------------------------------------------------------------------
    def layer_forward_flops(self, i, seq, causal=True):
        """Forward FLOPs of layer ``i`` per token at sequence length ``seq``."""
        f = 2 * self._attn_params() + self._attn_core_per_token(seq, causal)
        if self.is_moe_layer(i):
            f += 2 * self.hidden * self.experts + \
                2 * (self.topk + self.shared_experts) * self._mlp_params(self.expert_ffn)
        else:
            f += 2 * self._mlp_params(self.ffn)
        return f

    def head_forward_flops(self):
        """Forward FLOPs of the output head per token."""
        return 2 * self.hidden * self.vocab

    def forward_flops_per_token(self, seq, causal=True):
        return sum(self.layer_forward_flops(i, seq, causal) for i in range(self.layers)) + \
            self.head_forward_flops()

    def train_flops_per_token(self, seq, causal=True):
        """Model FLOPs of one training token: forward + backward (3x the forward)."""
        return 3 * self.forward_flops_per_token(seq, causal)


#: Models the papers train.  Shapes from each model's published configuration.
MODELS = {
    "llama-13b": Transformer(
        "llama-13b", layers=40, hidden=5120, heads=40, ffn=13824, vocab=32000,
        source="Touvron et al., LLaMA, arXiv:2302.13971 Table 2 (dim, heads, layers); "
               "ffn and vocab from the released config"),
    "deepseekmoe-16b": Transformer(
        "deepseekmoe-16b", layers=28, hidden=2048, heads=16, ffn=10944, vocab=102400,
        experts=64, shared_experts=2, topk=6, expert_ffn=1408, dense_layers=1,
        source="Dai et al., DeepSeekMoE, arXiv:2401.06066 §5 (28 layers, hidden 2048, 16 heads, "
               "first layer dense, 2 shared + 64 routed experts of 1/4 FFN size, top-6); "
               "ffn 10944, expert 1408 and vocab from the released config"),
    "deepseek-v3": Transformer(
        "deepseek-v3", layers=61, hidden=7168, heads=128, ffn=18432, vocab=129280,
        experts=256, shared_experts=1, topk=8, expert_ffn=2048, dense_layers=3, node_limit=4,
        q_lora=1536, kv_lora=512, qk_nope=128, qk_rope=64, v_head=128,
        source="deepseek-ai/DeepSeek-V3 inference/configs/config_671B.json (n_limited_groups "
               "4: at most 4 nodes a token, [ISCA] §4.3; the multi-token prediction module is "
               "left out)"),
    "gpt2-medium": Transformer(
        "gpt2-medium", layers=24, hidden=1024, heads=16, ffn=4096, vocab=50257, gated=False,
        source="Radford et al., GPT-2 (2019), 345M/medium: 24 layers, d_model 1024"),
}


def model_from_dict(d):
    """A :class:`Transformer` from a mapping (a workload file's ``model`` table): a known name
    (``{"name": "llama-13b"}``, with fields to override) or every field."""
    if not isinstance(d, dict):
        raise ParameterError(f"a model is a table of fields, got {type(d).__name__}")
    known = {f.name for f in fields(Transformer)}
    unknown = set(d) - known
    if unknown:
        raise ParameterError(f"unknown model field(s) {sorted(unknown)}; allowed: "
                             f"{', '.join(sorted(known))}")
    base = MODELS.get(d.get("name"))
    if base is not None:
        kw = {f.name: getattr(base, f.name) for f in fields(Transformer)}
        kw.update(d)
        return Transformer(**kw)
    missing = {"name", "layers", "hidden", "heads", "vocab"} - set(d)
    if missing:
        raise ParameterError(f"model {d.get('name')!r} is not one of {', '.join(MODELS)}; a new "
                             f"model needs {sorted(missing)}")
    return Transformer(**d)
