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

For timing, a layer is also a list of kernels (:class:`Op`, :meth:`Transformer.layer_ops`):
its GEMMs with their shapes (so a GEMM of few tokens, such as a routed expert's, moves more
bytes per FLOP) and the memory-bound work around them (normalisations, residual adds,
activations, rotary embedding, token permutation, the loss), each with the bytes it moves.
:class:`ConvNet` describes a VGG-style network from its layer list (:func:`vgg`).

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

__all__ = ["Op", "Transformer", "ConvNet", "vgg", "VGG16_CONFIG_D", "MODELS", "model_from_dict"]


@dataclass(frozen=True)
class Op:
    """One kernel of a layer, forward and backward, as the roofline times it.

    Attributes
    ----------
    name : str
    kind : {"gemm", "memory"}
        A ``gemm`` (matrix multiply, convolution, fused attention) takes
        max(FLOPs / matmul rate, bytes / memory bandwidth); a ``memory`` op (elementwise,
        normalisation, softmax, token permutation) takes bytes / memory bandwidth.
    flops, bytes : float
        Forward FLOPs and the bytes it must move to and from GPU memory at least (every
        operand read once, every result written once: the roofline's convention).
    bwd_flops, bwd_bytes : float
        The same for the backward pass.
    tp_split : bool
        Tensor parallelism divides the op (False: Megatron-LM replicates it on every
        tensor-parallel rank, as layer norms and residual adds without sequence
        parallelism).
    gemms, bwd_gemms : tuple
        The GEMM launches of the forward and the backward pass, ``(M, K, N, copies,
        split)`` each: ``copies`` GEMMs of (M x K) . (K x N) (a GPU's routed experts), and
        the dimension tensor parallelism divides (``"N"`` column-parallel, ``"K"``
        row-parallel, ``""`` none).  Empty when the op has no GEMM shape (fused attention,
        memory-bound kernels): the roofline then times its FLOPs alone
        (:meth:`~netemu.topologies.compute.GpuCompute.kernel_time`).
    bwd_parts : tuple
        The backward pass as separate kernels, ``(flops, bytes, gemms)`` each (a GEMM's
        input-gradient and weight-gradient launches): each is timed by the roofline on its
        own, so a memory-bound weight gradient is not hidden behind a compute-bound input
        gradient.  Empty: the backward is one kernel of ``bwd_flops`` and ``bwd_bytes``.
        When given, their FLOPs and bytes add up to ``bwd_flops`` and ``bwd_bytes``.
    """
    name: str
    kind: str
    flops: float
    bytes: float
    bwd_flops: float
    bwd_bytes: float
    tp_split: bool = True
    gemms: tuple = ()
    bwd_gemms: tuple = ()
    bwd_parts: tuple = ()


#: FLOPs FlashAttention's backward kernel executes, per FLOP of its forward: it recomputes the
#: attention scores and probabilities (one more QK^T) besides the four products of the
#: gradients, five matrix products against the forward's two.  Source: the FlashAttention
#: repository's own benchmark, Dao-AILab/flash-attention benchmarks/benchmark_flash_attention.py
#: ``flops(mode="bwd") = 2.5 * flops(mode="fwd")``; Dao, FlashAttention-2, arXiv:2307.08691
#: §4.1.  Model FLOPs (MFU) keep the conventional twice the forward.
FLASH_BWD_FLOPS = 2.5


#: Where a forward GEMM's tensor-parallel dimension lands in its input-gradient GEMM
#: (M x N) . (N x K) and its weight-gradient GEMM (K x M) . (M x N).
_DGRAD_DIM = {"M": "M", "K": "N", "N": "K", "": ""}
_WGRAD_DIM = {"M": "K", "K": "M", "N": "N", "": ""}


def gemm_op(name, M, K, N, width, dgrad=True, split="N", wgrad_bytes=None):
    """A matrix multiply (M x K) . (K x N) in ``width``-byte elements and its backward: the
    input gradient (M x N) . (N x K), skipped when ``dgrad`` is False, and the weight gradient
    (K x M) . (M x N), two kernels of the same FLOPs as the forward; ``split`` is the
    dimension tensor parallelism divides (``"N"`` column-, ``"K"`` row-parallel).

    Each kernel moves its three matrices once, in ``width``-byte elements, except the weight
    gradient's result: ``wgrad_bytes`` per element of the (K x N) weight (default ``width``:
    written once).  A step that adds every micro-batch's weight gradient into an FP32
    accumulator passes 8 (read and written in 4 bytes; :attr:`Layout.grad_accum_bytes`)."""
    f = 2.0 * M * K * N
    b = float(width) * (M * K + K * N + M * N)
    wb = float(width) * (K * M + M * N) + float(width if wgrad_bytes is None else wgrad_bytes) \
        * K * N
    parts = (((f, b, ((M, N, K, 1, _DGRAD_DIM[split]),)),) if dgrad else ()) + \
        ((f, wb, ((K, M, N, 1, _WGRAD_DIM[split]),)),)
    return Op(name, "gemm", f, b, len(parts) * f, sum(p[1] for p in parts),
              gemms=((M, K, N, 1, split),),
              bwd_gemms=tuple(g for p in parts for g in p[2]), bwd_parts=parts)


def memory_op(name, fwd_bytes, bwd_bytes, tp_split=True):
    return Op(name, "memory", 0.0, float(fwd_bytes), 0.0, float(bwd_bytes), tp_split)


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
    tied : bool
        The output head shares the input embedding's matrix (GPT-2).
    rope : bool
        Rotary position embedding applied to queries and keys (an elementwise kernel per
        layer); False for learned absolute positions (GPT-2).
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
    tied: bool = False
    rope: bool = True
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
        """Input embedding and output head (one matrix when ``tied``)."""
        return (1 if self.tied else 2) * self.vocab * self.hidden

    def stage_embedding_params(self, first, last):
        """Embedding parameters a pipeline stage holds: the input embedding on the first,
        the head on the last (a tied matrix is held, and its gradient summed, on both)."""
        if first and last:
            return self.embedding_params()
        return self.vocab * self.hidden * (int(first) + int(last))

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

    # -- kernels ----------------------------------------------------------------------------
    def _attn_gemms(self, T, e, wg=None):
        h = self.hidden
        if self.mla:
            qk = self.qk_nope + self.qk_rope
            out = [gemm_op("q_a", T, h, self.q_lora, e, wgrad_bytes=wg),
                   gemm_op("q_b", T, self.q_lora, self.heads * qk, e, wgrad_bytes=wg)] \
                if self.q_lora else [gemm_op("q", T, h, self.heads * qk, e, wgrad_bytes=wg)]
            return out + [gemm_op("kv_a", T, h, self.kv_lora + self.qk_rope, e, wgrad_bytes=wg),
                          gemm_op("kv_b", T, self.kv_lora,
                                  self.heads * (self.qk_nope + self.v_head), e, wgrad_bytes=wg),
                          gemm_op("attn_out", T, self.heads * self.v_head, h, e, split="K",
                                  wgrad_bytes=wg)]
        hd, kvh = self._hd(), self.kv_heads or self.heads
        return [gemm_op("qkv", T, h, (self.heads + 2 * kvh) * hd, e, wgrad_bytes=wg),
                gemm_op("attn_out", T, self.heads * hd, h, e, split="K", wgrad_bytes=wg)]

    def _attn_widths(self):
        """Per-token widths of queries, keys, values and the attention output."""
        if self.mla:
            qk = self.qk_nope + self.qk_rope
            return self.heads * qk, self.heads * qk, self.heads * self.v_head, \
                self.heads * self.v_head
        hd, kvh = self._hd(), self.kv_heads or self.heads
        return self.heads * hd, kvh * hd, kvh * hd, self.heads * hd

    def _mlp_ops(self, name, M, inter, e, count=1, merged=False, wg=None):
        """The MLP (or one expert) on ``M`` tokens, ``count`` times: up (and gate) projection,
        activation, down projection.  ``merged``: the ``count`` MLPs see the same tokens and
        run as one MLP of ``count x inter`` (DeepSeekMoE's shared experts: the released
        modeling_deepseek.py builds them as one MLP of ``moe_intermediate_size x
        n_shared_experts``); otherwise ``count`` GEMMs of their own tokens (a GPU's experts)."""
        if merged:
            inter, count = inter * count, 1
        h, g = self.hidden, self.gated
        up = gemm_op(f"{name}_up", M, h, (2 if g else 1) * inter, e, wgrad_bytes=wg)
        down = gemm_op(f"{name}_down", M, inter, h, e, split="K", wgrad_bytes=wg)
        # GELU reads x and writes y, its backward reads x and dy and writes dx; SwiGLU reads
        # the gate and up halves and writes their product, its backward reads both and dy and
        # writes both gradients.
        act = memory_op(f"{name}_act", (3 if g else 2) * M * inter * e,
                        (5 if g else 3) * M * inter * e)
        return [_times(op, count) for op in (up, act, down)]

    def mlp_gemms(self, M, inter, copies=1):
        """The up (and gate) and down GEMM launches of ``copies`` MLPs of ``inter`` on ``M``
        tokens each, as :attr:`Op.gemms` holds them."""
        h = self.hidden
        return ((M, h, (2 if self.gated else 1) * inter, copies, "N"),
                (M, inter, h, copies, "K"))

    def attention_gemms(self, T):
        """The projection GEMM launches of attention on ``T`` tokens."""
        return tuple(op.gemms[0] for op in self._attn_gemms(T, 1))

    def layer_activation_bytes(self, i, tokens, act_bytes=2, tp=1, ep=1, expert_copies=None,
                               inputs_only=False):
        """Bytes layer ``i`` keeps from its forward for its backward, per micro-batch of
        ``tokens`` tokens on one GPU: the tensors each kernel's backward reads, counted as
        Korthikanti et al. count them (arXiv:2205.05198 §4.1), for a layer without dropout
        (these models train without it) and with FlashAttention (which keeps its output and
        row statistics, not the scores): both normalisations' inputs, the projections' and
        the MLP's inputs, the queries, keys, values and attention output, and the MLP's
        intermediates (gate, up and their product for a gated MLP; the pre-activation and
        the activation otherwise) -- the last two groups split by ``tp``.  An MoE layer
        keeps its experts' token copies (``expert_copies`` on the GPU, default the balanced
        ``tokens x topk``), each copy's intermediates, the shared experts' and the experts'
        outputs (the routing weights' gradient reads them).  ``inputs_only``: the layer's
        input alone (what full recomputation keeps)."""
        T, h, e = tokens, self.hidden, act_bytes
        if inputs_only:
            return T * h * e
        q, k, v, o = self._attn_widths()
        inner = 3 if self.gated else 2
        x = T * (4 * h + (q + k + v + o) / tp)
        if self.is_moe_layer(i):
            c = T * self.topk if expert_copies is None else expert_copies
            x += c * (2 * h + inner * self.expert_ffn / tp)
            x += T * self.shared_experts * inner * self.expert_ffn / tp
        else:
            x += T * inner * self.ffn / tp
        return x * e

    def head_activation_bytes(self, tokens, act_bytes=2, tp=1, last=True):
        """Bytes the output head keeps for its backward: the logits the loss reads."""
        return tokens * self.vocab / tp * act_bytes if last else 0.0

    def layer_ops(self, i, tokens, seq, act_bytes=2, ep=1, causal=True, wgrad_bytes=None,
                  expert_copies=None):
        """The kernels of layer ``i`` on a micro-batch of ``tokens`` tokens (sequences of
        ``seq``), activations and weights in ``act_bytes``-byte elements, weight gradients
        moving ``wgrad_bytes`` per element (:func:`gemm_op`).

        GEMM FLOPs add up to :meth:`layer_forward_flops` x ``tokens`` (tested).  Memory-bound
        kernels, as an unfused PyTorch/Megatron layer runs them: two normalisations (read x,
        write y; backward read x and dy, write dx), two residual adds (read two, write one;
        their backward passes the gradient on, no kernel), rotary embedding of queries and
        keys (read, write; the same backward), the MLP activation (see :meth:`_mlp_ops`).
        Attention is one fused kernel (FlashAttention: Dao et al., arXiv:2205.14135) that
        moves Q, K, V and O once and dQ, dK, dV, dO, Q, K, V, O in the backward, where it
        executes :data:`FLASH_BWD_FLOPS` times the forward's FLOPs; an MoE layer
        adds the router, the permutation of token copies into expert order and back with
        the weighted sum (read and write ``topk`` copies each way).  Routed experts see
        ``tokens x topk x ep / experts`` tokens each (balanced routing) and a GPU runs
        ``experts / ep`` of them: small GEMMs whose bytes can outweigh their FLOPs.  With
        ``expert_copies`` the GPU's experts compute that many token copies instead (a drawn
        routing's load on the GPU), spread evenly over them.
        """
        T, e, h = tokens, act_bytes, self.hidden
        q, k, v, o = self._attn_widths()
        core_f = self._attn_core_per_token(seq, causal) * T
        ops = [memory_op("norm_attn", 2 * T * h * e, 3 * T * h * e, tp_split=False)]
        wg = wgrad_bytes
        ops += self._attn_gemms(T, e, wg)
        if self.rope:
            ops.append(memory_op("rope", 2 * T * (q + k) * e, 2 * T * (q + k) * e))
        ops.append(Op("attention", "gemm", core_f, T * (q + k + v + o) * e,
                      FLASH_BWD_FLOPS * core_f, 2 * T * (q + k + v + o) * e))
        ops.append(memory_op("residual_attn", 3 * T * h * e, 0, tp_split=False))
        ops.append(memory_op("norm_mlp", 2 * T * h * e, 3 * T * h * e, tp_split=False))
        if self.is_moe_layer(i):
            E, K = self.experts, self.topk
            ops.append(gemm_op("router", T, h, E, e, wgrad_bytes=wg))
            ops.append(memory_op("router_softmax_topk", 2 * T * E * e, 3 * T * E * e))
            ops.append(memory_op("permute", 2 * T * K * h * e, 2 * T * K * h * e))
            if self.shared_experts:
                ops += self._mlp_ops("shared", T, self.expert_ffn, e, self.shared_experts,
                                     merged=True, wg=wg)
            per_gpu = max(1, E // max(1, ep))
            each = T * K * max(1, ep) / E if expert_copies is None else expert_copies / per_gpu
            ops += self._mlp_ops("expert", each, self.expert_ffn, e, per_gpu, wg=wg)
            ops.append(memory_op("unpermute_combine", (T * K + T) * h * e,
                                 (T * K + T) * h * e + T * K * h * e))
        else:
            ops += self._mlp_ops("mlp", T, self.ffn, e, wg=wg)
        ops.append(memory_op("residual_mlp", 3 * T * h * e, 0, tp_split=False))
        return ops

    def head_ops(self, tokens, act_bytes=2, first=False, last=True, wgrad_bytes=None):
        """Kernels outside the layers on the stage that holds them: the embedding lookup on
        the first stage (read a row, write it; backward scatters the gradient), the final
        norm, the output projection (no input gradient for the lookup; its weight gradient
        moves ``wgrad_bytes`` per element, :func:`gemm_op`) and the softmax cross-entropy
        over the vocabulary on the last (read the logits; backward reads them and writes
        their gradient)."""
        T, e, h, V = tokens, act_bytes, self.hidden, self.vocab
        ops = []
        if first:
            ops.append(memory_op("embedding", 2 * T * h * e, 2 * T * h * e, tp_split=False))
        if last:
            ops += [memory_op("norm_final", 2 * T * h * e, 3 * T * h * e, tp_split=False),
                    gemm_op("head", T, h, V, e, wgrad_bytes=wgrad_bytes),
                    memory_op("cross_entropy", T * V * e, 2 * T * V * e)]
        return ops


#: VGG16, configuration D of Simonyan & Zisserman, "Very Deep Convolutional Networks for
#: Large-Scale Image Recognition", arXiv:1409.1556, Table 1: 3x3 convolutions (stride 1,
#: padding 1) with these output channels, ``"M"`` a 2x2 max-pool of stride 2; then fully
#: connected layers of 4096, 4096 and 1000 on 224 x 224 RGB images (§2.1).
VGG16_CONFIG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                  512, 512, 512, "M")


@dataclass(frozen=True)
class ConvNet:
    """A plain convolutional network (VGG-style) as the step model sees it: ``layers``
    weight layers (convolutions, then fully connected layers), one *sample* = one image.

    The step prices it like a transformer whose sequence length is 1: ``Job(seq=1,
    batch=images)``, so tokens/s reads images/s.  Built by :func:`vgg`.

    Attributes
    ----------
    name : str
    convs : tuple
        ``(c_in, c_out, kernel, height, width, pool)`` per convolution (stride 1, "same"
        padding, output ``height x width``; ``pool``: a 2x2 max-pool follows).
    fcs : tuple
        ``(in_features, out_features)`` per fully connected layer.
    source : str
    """
    name: str
    convs: tuple
    fcs: tuple
    source: str = ""
    # The transformer attributes the step reads, fixed for a convolutional network.
    moe = False
    experts = 0
    node_limit = 0
    tied = False

    @property
    def layers(self):
        return len(self.convs) + len(self.fcs)

    @property
    def hidden(self):
        return self.fcs[-1][1]

    def is_moe_layer(self, i):
        return False

    def dense_params(self, i):
        """Weights and biases of weight layer ``i``."""
        if i < len(self.convs):
            cin, cout, k, *_ = self.convs[i]
            return k * k * cin * cout + cout
        fin, fout = self.fcs[i - len(self.convs)]
        return fin * fout + fout

    def expert_params(self, i):
        return 0

    def embedding_params(self):
        return 0

    def stage_embedding_params(self, first, last):
        return 0

    def params(self):
        return sum(self.dense_params(i) for i in range(self.layers))

    def layer_forward_flops(self, i, seq=1, causal=True):
        """Forward FLOPs of weight layer ``i`` per image (multiply-adds count two)."""
        if i < len(self.convs):
            cin, cout, k, H, W, _ = self.convs[i]
            return 2 * k * k * cin * cout * H * W
        fin, fout = self.fcs[i - len(self.convs)]
        return 2 * fin * fout

    def head_forward_flops(self):
        return 0

    def forward_flops_per_token(self, seq=1, causal=True):
        return sum(self.layer_forward_flops(i) for i in range(self.layers))

    def train_flops_per_token(self, seq=1, causal=True):
        """Model FLOPs of one training image: 3x the forward (MFU's convention)."""
        return 3 * self.forward_flops_per_token()

    def layer_activation_bytes(self, i, tokens, act_bytes=4, tp=1, ep=1, expert_copies=None,
                               inputs_only=False):
        """Bytes weight layer ``i`` keeps for its backward on ``tokens`` images: its input (the
        weight gradient reads it) and its ReLU's output (the ReLU's and the max-pool's
        backward read it); ``inputs_only``: the input alone."""
        if i < len(self.convs):
            cin, cout, _, H, W, _ = self.convs[i]
            inp, out = H * W * cin, H * W * cout
        else:
            inp, out = self.fcs[i - len(self.convs)]
        return tokens * (inp if inputs_only else inp + out) * act_bytes

    def head_activation_bytes(self, tokens, act_bytes=4, tp=1, last=True):
        """Bytes the loss keeps: the class scores."""
        return tokens * self.hidden * act_bytes if last else 0.0

    def layer_ops(self, i, tokens, seq=1, act_bytes=4, ep=1, causal=True, wgrad_bytes=None):
        """Kernels of weight layer ``i`` on ``tokens`` images: the convolution as an implicit
        GEMM (M = images x output pixels, K = c_in x kernel^2, N = c_out; it moves its input
        and output feature maps and its weights, the weight gradient ``wgrad_bytes`` per
        weight as in :func:`gemm_op`; the first layer computes no input gradient),
        the ReLU (read, write; backward reads y and dy, writes dx) and the max-pool (read the
        map, write a quarter; backward reads both and dy, writes dx); a fully connected layer
        as a GEMM and, but for the last, its ReLU."""
        e, n = act_bytes, tokens
        if i < len(self.convs):
            cin, cout, k, H, W, pool = self.convs[i]
            f = 2.0 * n * H * W * k * k * cin * cout
            P = n * H * W
            wgt = k * k * cin * cout
            b = float(e) * (P * cin + wgt + P * cout)
            wb = float(e) * (P * cin + P * cout) + float(e if wgrad_bytes is None else
                                                         wgrad_bytes) * wgt
            out = n * H * W * cout
            # Implicit GEMMs: forward (nHW x k^2 c_in) . (k^2 c_in x c_out); input gradient
            # (nHW x k^2 c_out) . (k^2 c_out x c_in); weight gradient (k^2 c_in x nHW) .
            # (nHW x c_out).
            parts = ((f, b, ((P, k * k * cout, cin, 1, ""),)),) if i else ()
            parts += ((f, wb, ((k * k * cin, P, cout, 1, ""),)),)
            ops = [Op(f"conv{i}", "gemm", f, b, len(parts) * f, sum(p[1] for p in parts),
                      gemms=((P, k * k * cin, cout, 1, ""),),
                      bwd_gemms=tuple(g for p in parts for g in p[2]), bwd_parts=parts),
                   memory_op(f"relu{i}", 2 * out * e, 3 * out * e)]
            if pool:
                ops.append(memory_op(f"pool{i}", out * e * 5 / 4, out * e * (2 + 1 / 4)))
            return ops
        j = i - len(self.convs)
        fin, fout = self.fcs[j]
        ops = [gemm_op(f"fc{j}", n, fin, fout, e, wgrad_bytes=wgrad_bytes)]
        if j < len(self.fcs) - 1:
            ops.append(memory_op(f"relu_fc{j}", 2 * n * fout * e, 3 * n * fout * e))
        return ops

    def head_ops(self, tokens, act_bytes=4, first=False, last=True, wgrad_bytes=None):
        """The softmax cross-entropy over the classes (read the logits; backward reads them
        and writes their gradient)."""
        return [memory_op("cross_entropy", tokens * self.hidden * act_bytes,
                          2 * tokens * self.hidden * act_bytes)] if last else []


def vgg(config=VGG16_CONFIG_D, image=(3, 224, 224), fc=(4096, 4096), classes=1000,
        name="vgg16"):
    """A :class:`ConvNet` from a VGG configuration: 3x3 convolutions of stride 1 and padding 1
    (the map keeps its size), 2x2 max-pools of stride 2 (it halves), then the fully connected
    layers on the flattened map (Simonyan & Zisserman, arXiv:1409.1556, §2.1, Table 1).

    >>> m = vgg()
    >>> m.layers, m.params()
    (16, 138357544)
    """
    c, H, W = image
    convs = []
    for item in config:
        if item == "M":
            if not convs or convs[-1][5]:
                raise ParameterError("a VGG configuration's max-pool must follow a convolution")
            convs[-1] = convs[-1][:5] + (True,)
            H, W = H // 2, W // 2
            continue
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ParameterError(f"a VGG configuration item is a channel count >= 1 or 'M', "
                                 f"got {item!r}")
        convs.append((c, item, 3, H, W, False))
        c = item
    dims = (c * H * W,) + tuple(fc) + (classes,)
    return ConvNet(name, tuple(convs), tuple(zip(dims, dims[1:])),
                   source="Simonyan & Zisserman, arXiv:1409.1556, configuration D (Table 1), "
                          "224 x 224 input, 1000 classes")


def _times(op, n):
    """``n`` copies of ``op`` (a GPU's local experts)."""
    if n == 1:
        return op
    def copies(gemms):
        return tuple((M, K, N, c * n, sp) for M, K, N, c, sp in gemms)
    return Op(op.name, op.kind, op.flops * n, op.bytes * n, op.bwd_flops * n,
              op.bwd_bytes * n, op.tp_split, copies(op.gemms), copies(op.bwd_gemms),
              tuple((f * n, b * n, copies(g)) for f, b, g in op.bwd_parts))


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
        tied=True, rope=False,
        source="Radford et al., GPT-2 (2019), 345M/medium: 24 layers, d_model 1024, context "
               "1024, vocabulary 50,257; the released code's 4 x d_model GELU MLP, learned "
               "positions and output head tied to the token embedding"),
    "vgg16": vgg(),
}


def model_from_dict(d):
    """A :class:`Transformer` from a mapping (a workload file's ``model`` table): a known name
    (``{"name": "llama-13b"}``, with fields to override) or every field."""
    from .layout import check_fields
    check_fields(Transformer, d, "model")
    base = MODELS.get(d.get("name"))
    if isinstance(base, ConvNet):
        if set(d) != {"name"}:
            raise ParameterError(f"model {d['name']!r} is a convolutional network; its fields "
                                 f"cannot be overridden, got {sorted(set(d) - {'name'})}")
        return base
    if base is not None:
        kw = {f.name: getattr(base, f.name) for f in fields(Transformer)}
        kw.update(d)
        return Transformer(**kw)
    missing = {"name", "layers", "hidden", "heads", "vocab"} - set(d)
    if missing:
        raise ParameterError(f"model {d.get('name')!r} is not one of {', '.join(MODELS)}; a new "
                             f"model needs {sorted(missing)}")
    return Transformer(**d)
