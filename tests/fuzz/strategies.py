"""Shared hypothesis strategies: numbers good and bad, as users type them."""

from hypothesis import strategies as st

#: What a user might pass where a count or a bandwidth is expected.
odd_values = st.one_of(
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([None, True, False, "8", "", "x", 1e400, -0.0, 2.5, 10**12]),
)

small_counts = st.one_of(st.integers(-2, 12), st.sampled_from([None, 0.5, "4", float("nan")]))
