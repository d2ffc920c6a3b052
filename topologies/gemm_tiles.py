"""Tile and wave quantization of a GEMM on a GPU with a given number of SMs.

A GPU computes a matrix product C (M x N) = A (M x K) . B (K x N) by cutting C into output
tiles of ``tm x tn`` elements, one thread block each; each block steps through the whole K
dimension.  Two effects follow (NVIDIA, "Matrix Multiplication Background User's Guide",
DU-09799-001, NVIDIA Deep Learning Performance documentation,
docs.nvidia.com/deeplearning/performance/dl-performance-matrix-multiplication, §3 "Dimension
Quantization Effects"):

- *tile quantization* (§3.1): when M or N is not a multiple of the tile, the edge tiles are
  partly empty but cost a whole tile: ``ceil(M / tm) x ceil(N / tn)`` tiles;
- *wave quantization* (§3.2): the tiles run in waves of one tile per SM ("an NVIDIA A100 GPU
  has 108 SMs; in the particular case of 256x128 thread block tiles, it can execute one thread
  block per SM, leading to a wave size of 108 tiles"), so ``ceil(tiles / SMs)`` waves, the
  last one partly idle.

netemu times a GEMM as ``waves x`` the time of one tile at an SM's share of the GPU's
large-GEMM rate (the measured or datasheet rate of :class:`~netemu.topologies.compute.
GpuCompute`): ``2 tm tn K / (rate / SMs)``.  A GEMM whose tiles fill whole waves is timed
exactly as ``2 M N K / rate``; a smaller one pays for its empty tiles and idle SMs.

A launch of fewer tiles than SMs is split along K (*split-K*, CUTLASS "Efficient GEMM in
CUDA", media/docs/efficient_gemm.md, "Parallelized Reductions": "for small problems ...
there are too few threadblocks to efficiently occupy the entire GPU.  As a recourse,
parallelizing the reduction ... enables more threadblocks to execute concurrently"): into
``s = min(SMs // tiles, K // 64)`` slices (64, the K depth of CUTLASS's SM80 default
threadblock, :data:`SPLIT_K_MIN_DEPTH`), one wave of ``tiles x s`` tiles of depth ``K / s``.
Without it a weight gradient of a few output tiles over a long K (a convolution's, over
every pixel of the batch) would hold the GPU for the whole K on a handful of SMs, which no
library does.  The reduction of the ``s`` partial sums (``s x M x N`` elements, small since
M N is) is not counted.

The tile is not published for the runs netemu reproduces, so it is a named choice
(:data:`GEMM_TILE`) with a range (:data:`GEMM_TILE_RANGE`).  Several GEMMs in one launch (a
*grouped* GEMM, as mixture-of-experts kernels run a GPU's experts) share their waves; GEMMs
launched one after the other each end in their own partial wave.

Not modelled: the library's choice of a smaller tile for a small GEMM (cuBLAS heuristics
pick one per shape), stream-K, more than one resident tile per SM, and the time of the edge tiles'
shorter K loop (K is never tiled here: a tile's time is proportional to K).

Examples
--------
A 1024 x 1024 x 1024 GEMM in 128 x 128 tiles on 64 SMs: 64 tiles, one full wave, the plain
rate; one row more makes 72 tiles (9 x 8), two waves, twice the time:

>>> rate = 64e12
>>> gemm_compute_time([(1024, 1024, 1024)], rate, 64, (128, 128)) == 2 * 1024**3 / rate
True
>>> gemm_compute_time([(1025, 1024, 1024)], rate, 64, (128, 128)) / (2 * 1024**3 / rate)
2.0
"""

import math

__all__ = ["GEMM_TILE", "GEMM_TILE_RANGE", "EXPERT_GEMMS", "SPLIT_K_MIN_DEPTH", "tiles",
           "waves", "split_k", "gemm_compute_time", "split_gemms"]

#: Output tile (rows of M, columns of N) of the half-precision GEMMs the step model times: a
#: choice.  128 x 128 is the middle of the tiles NVIDIA lists for cuBLAS (Matrix
#: Multiplication Background User's Guide §2.3, "Typical Tile Dimensions In cuBLAS And
#: Performance": 256x128 and 128x256 the most efficient, then 128x128, 256x64 / 64x256,
#: 128x64 / 64x128, 64x64) and a common Triton/CUTLASS block for A100 and H100 GEMMs.
GEMM_TILE = (128, 128)
#: The range shown beside it: 128 x 256, CUTLASS's default threadblock for SM80 tensor-core
#: GEMMs (include/cutlass/gemm/device/default_gemm_configuration.h, ``GemmShape<128, 256,
#: 64>``) and one of NVIDIA's two most efficient cuBLAS tiles, and 64 x 128, a smaller tile
#: from the same list.
GEMM_TILE_RANGE = ((128, 256), (64, 128))
#: The shallowest K slice split-K makes: 64, the K depth of CUTLASS's default SM80
#: tensor-core threadblock (``GemmShape<128, 256, 64>``, default_gemm_configuration.h).
SPLIT_K_MIN_DEPTH = 64
#: How a GPU's routed experts are launched: ``"grouped"`` (one launch for all, their tiles
#: share waves) or ``"per-expert"`` (one launch each, each ending in its own partial wave).
EXPERT_GEMMS = ("grouped", "per-expert")


def tiles(M, N, tile):
    """Output tiles of an M x N result in ``tile = (tm, tn)`` tiles (tile quantization).

    >>> tiles(384, 2816, (128, 128))
    66
    """
    tm, tn = tile
    return math.ceil(M / tm) * math.ceil(N / tn)


def waves(n_tiles, sms):
    """Waves of ``n_tiles`` tiles on ``sms`` SMs, one tile per SM at a time.

    >>> waves(108, 108), waves(109, 108)
    (1, 2)
    """
    return math.ceil(n_tiles / sms)


def split_k(n_tiles, K, sms):
    """K slices of a launch of ``n_tiles`` tiles: as many as fit the SMs in one wave, each at
    least :data:`SPLIT_K_MIN_DEPTH` deep; 1 when the tiles fill the SMs.

    >>> split_k(5, 3_211_264, 108), split_k(66, 2048, 108), split_k(2, 128, 108)
    (21, 1, 2)
    """
    if n_tiles >= sms:
        return 1
    return max(1, min(sms // math.ceil(n_tiles), int(K // SPLIT_K_MIN_DEPTH)))


def gemm_compute_time(gemms, rate, sms, tile, grouped=True, split=True):
    """Seconds of the GEMMs ``gemms`` at ``rate`` FLOP/s on ``sms`` SMs in ``tile`` tiles.

    Parameters
    ----------
    gemms : iterable of tuple
        ``(M, K, N)`` or ``(M, K, N, copies, ...)`` (``copies`` GEMMs of that shape, e.g. a
        GPU's experts; a mean may be fractional; further items, such as
        :attr:`~netemu.collectives.models.Op.gemms`' tensor-parallel dimension, are ignored),
        each entry its own launch.
    rate : float
        The GPU's large-GEMM rate, FLOP/s; an SM computes ``rate / sms``.
    sms : int
    tile : tuple
        ``(tm, tn)``.
    grouped : bool
        The copies of an entry run in one launch (their tiles share waves) or one launch
        each.
    split : bool
        A launch of fewer tiles than SMs is split along K (:func:`split_k`).

    Returns
    -------
    float
        ``sum(waves x 2 tm tn K / s / (rate / sms))``, ``s`` the K slices.
    """
    tm, tn = tile
    total = 0.0
    for g in gemms:
        M, K, N = g[:3]
        copies = g[3] if len(g) > 3 else 1
        if copies <= 0 or M <= 0 or N <= 0 or K <= 0:
            continue
        t = tiles(M, N, tile)
        launch = copies * t if grouped else t
        s = split_k(launch, K, sms) if split else 1
        n = waves(launch * s, sms) * (1 if grouped else copies)
        total += n * 2.0 * tm * tn * (K / s) * sms / rate
    return total


def split_gemms(gemms, d):
    """The launches ``gemms`` (``(M, K, N, copies, split)``) with the dimension each names in
    ``split`` (``"M"``, ``"K"``, ``"N"``; ``""`` none) divided by ``d``: tensor parallelism
    splits a column-parallel GEMM's N and a row-parallel one's K (Megatron-LM).

    >>> split_gemms([(8, 64, 256, 1, "N"), (8, 256, 64, 1, "K")], 4)
    ((8, 64, 64.0, 1), (8, 64.0, 64, 1))
    """
    out = []
    for M, K, N, copies, split in gemms:
        dims = {"M": M, "K": K, "N": N}
        if d != 1 and split:
            dims[split] = dims[split] / d
        out.append((dims["M"], dims["K"], dims["N"], copies))
    return tuple(out)
