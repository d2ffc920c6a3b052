import math

import pytest

from netemu.checks import check_choice, check_int, check_positive
from netemu.errors import ParameterError
from netemu.units import GiB, MiB, format_bytes, gbps, parse_size, to_gbps


def test_gbps_round_trip():
    assert gbps(400) == 50e9
    assert to_gbps(gbps(200)) == pytest.approx(200)


@pytest.mark.parametrize("text,value", [("186MiB", 186 * MiB), ("4G", 4 * GiB), ("1.5GB", 1_500_000_000),
                                        ("4096", 4096), ("64B", 64), (" 8 M ", 8 * MiB), (128, 128)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["0", "-4K", "1.5", "12XB", "", "nan", "inf", 0, -1, 0.5, math.nan])
def test_parse_size_rejects(bad):
    with pytest.raises(ParameterError, match="size"):
        parse_size(bad)


def test_format_bytes_inverts_parse():
    for n in (64, 4 * 1024, 128 * MiB, 16 * GiB, 1000):
        assert parse_size(format_bytes(n)) == n


def test_check_int():
    assert check_int("k", 4, minimum=2, even=True) == 4
    assert check_int("k", 4.0) == 4
    with pytest.raises(ParameterError, match="k must be an even integer >= 2, got 5"):
        check_int("k", 5, minimum=2, even=True)
    with pytest.raises(ParameterError, match="k must be an integer from 1 to 3, got 9"):
        check_int("k", 9, minimum=1, maximum=3)
    with pytest.raises(ParameterError, match="must be an integer, got 'x'"):
        check_int("k", "x")
    with pytest.raises(ParameterError, match="got True"):
        check_int("k", True)


def test_check_positive_and_choice():
    assert check_positive("bw", 3) == 3.0
    for bad in (0, -1, math.inf, math.nan, "1"):
        with pytest.raises(ParameterError, match="bw must be a finite number > 0"):
            check_positive("bw", bad)
    with pytest.raises(ParameterError, match="routing must be one of 'a', 'b', got 'c'"):
        check_choice("routing", "c", ("a", "b"))


def test_bounds_are_inclusive_and_decimal_units_are_powers_of_ten():
    # Found by benchmarks/mutation.py: the boundary values themselves and the decimal units
    # were never exercised.
    from netemu.checks import check_int
    from netemu.units import GB, KB, MB, TB, parse_size
    assert check_int("n", 8, minimum=8, maximum=8) == 8
    assert (KB, MB, GB, TB) == (1000, 1000 ** 2, 1000 ** 3, 1000 ** 4)
    assert parse_size("3KB") == 3000


def test_all_to_all_of_one_byte_per_flow_and_its_flow_count():
    from netemu.topologies.fat_tree import two_layer_fat_tree
    from netemu.traffic import AllToAll, all_to_all
    G = two_layer_fat_tree(4)
    t = all_to_all(G, size=1)                       # 1 byte is a valid size
    n = 8
    assert t.n_flows == n * (n - 1)
    assert sorted(zip(t.src.tolist(), t.dst.tolist())) == [
        (a, b) for a in range(n) for b in range(n) if a != b]
    assert AllToAll([f"n{i}" for i in range(3)], size=1).n_flows == 6
    # Per-flow sizes take the explicit path: the same N(N-1) pairs, in the same order.
    import numpy as np
    sizes = np.arange(1, n * (n - 1) + 1, dtype=float)
    u = all_to_all(G, size=sizes)
    assert u.n_flows == n * (n - 1) and u.pairs() == t.pairs()
    assert u.sizes.tolist() == sizes.tolist()
