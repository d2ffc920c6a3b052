"""Published results that experiments compare against — never inputs to a model.

Every value carries its source (keys as in topologies/hardware.py: [ISCA], [FF]).
"""

#: [ISCA] Table 3: network topology comparison (endpoints, switches, links, cost M$).
ISCA_TABLE3 = {
    "isca-ft2": {"endpoints": 2_048, "switches": 96, "links": 2_048, "cost_musd": 9},
    "isca-mpft": {"endpoints": 16_384, "switches": 768, "links": 16_384, "cost_musd": 72},
    "isca-ft3": {"endpoints": 65_536, "switches": 5_120, "links": 131_072, "cost_musd": 491},
    "isca-slimfly": {"endpoints": 32_928, "switches": 1_568, "links": 32_928, "cost_musd": 146},
    "isca-dragonfly": {"endpoints": 261_632, "switches": 16_352, "links": 384_272, "cost_musd": 1_522},
}

#: [FF] Table III: number of switches and relative network price (units unstated).
FF_TABLE3 = {
    "fire-flyer-2": {"switches": 122, "network_price": 350},
    "ff-pcie-3layer": {"switches": 200, "network_price": 600},
    "ff-dgx-3layer": {"switches": 1_320, "network_price": 4000},
}

#: [FF] Fig. 7a: allreduce of 186 MiB, GB/s, by GPU count.  Data labels of the figure; the
#: x-placement of the middle labels is a secondary analysis's reading (UNCONFIRMED, see
#: reference notes: 7.12/7.33 and 3.73/4.83/4.62 may be swapped between neighbours).
FF_FIG7A_SIZE = 186 * 2**20
FF_FIG7A = {
    16: {"hfreduce": 8.10, "nccl": 4.01},
    32: {"hfreduce": 8.03, "nccl": 4.41},
    64: {"hfreduce": 7.95, "nccl": 4.29},
    128: {"hfreduce": 7.78, "nccl": 4.83},
    256: {"hfreduce": 7.12, "nccl": 4.62},
    512: {"hfreduce": 7.33, "nccl": 3.73},
    1024: {"hfreduce": 6.31, "nccl": 1.63},
    1440: {"hfreduce": 6.99, "nccl": 1.65},
}

#: [FF] Fig. 7b: HFReduce with NVLink, GB/s, within a zone and across the two zones (GPU
#: counts per a secondary analysis, UNCONFIRMED for the cross-zone x-values).
FF_FIG7B = {
    "within": {16: 19.18, 32: 13.0, 64: 12.07, 128: 10.3, 256: 9.66, 512: 8.56, 1024: 7.99},
    "cross": {128: 9.27, 256: 8.63, 512: 8.06, 1024: 7.75},
}

#: [ISCA] Fig. 5: NCCL all-to-all on MPFT and MRFT, 32/64/128 GPUs, 128 MiB-16 GiB.  The bar
#: values are not recovered; the paper's result is that the two are "very similar".
ISCA_FIG5_GPUS = (32, 64, 128)
ISCA_FIG5_SIZES = tuple(2**20 * 128 * 2**i for i in range(8))
ISCA_FIG5_RATIO = 1.0

#: [ISCA] Fig. 7: DeepEP on MPFT, 4,096 tokens per GPU, GB/s per GPU (dispatch/combine
#: assignment INFERRED from DeepEP's own V1 figures).
ISCA_FIG7 = {16: (43.05, 42.47), 32: (58.02, 56.96), 64: (50.58, 48.54), 128: (45.34, 41.6)}

#: [ISCA] §2.3.2: the EP step, per-token time and token rate bounds.
ISCA_INFERENCE = {
    "scale-out": {"ep_step_us": 120.96, "tpot_ms": 14.76, "tokens_per_s": 67},
    "nvl72": {"ep_step_us": 6.72, "tpot_ms": 0.82, "tokens_per_s": 1200},
}

#: [FF] §VI-B: 180 storage servers x 2 x 200 Gb/s -> 9 TB/s outbound bound; measured aggregate
#: read throughput 8 TB/s.  TB = 10^12 bytes.
FF_STORAGE_READ = {"bound_TBps": 9.0, "measured_TBps": 8.0}

#: [ISCA] Table 5: CPU-side end-to-end latency of a 64 B transfer, microseconds.
ISCA_TABLE5_US = {
    "roce": {"same leaf": 3.6, "cross leaf": 5.6},
    "ib": {"same leaf": 2.8, "cross leaf": 3.7},
    "nvlink": {"intra node": 3.33},
}

#: [FF] Fig. 9: training step time (s) by GPU count, strong scaling (papers.md B4): 9a
#: LLaMA-13B (sequence 2048, batch 4096, PP 4), 9b DeepSeekMoE-16B (sequence 4096, batch 4608,
#: PP 10).  From the figure's data labels.
FF_FIG9 = {
    "9a": {64: 64.118, 128: 32.508, 256: 17.448, 512: 9.717},
    "9b": {40: 79.615, 80: 40.352, 160: 20.784, 320: 10.71, 640: 6.535},
}

#: [ISCA] Table 4: DeepSeek-V3 training on 2,048 H800 GPUs, MPFT against MRFT.
ISCA_TABLE4 = {
    "mpft": {"tokens_per_day_B": 272.80, "step_time_s": 19.926, "mfu_noncausal": 0.4373,
             "mfu_causal": 0.3894},
    "mrft": {"tokens_per_day_B": 272.52, "step_time_s": 19.946, "mfu_noncausal": 0.4368,
             "mfu_causal": 0.3890},
}
