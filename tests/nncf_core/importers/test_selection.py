"""The vectorised parts: which lines are kept, and the datetime text written for them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from nncf_core.importers import selection
from nncf_core.importers.bulk import utc_text
from nncf_core.importers.files import RatingArrays
from nncf_core.importers.selection import MAX_TIMESTAMP, known_mask, select_ratings

KNOWN = np.array([1, 2, 3, 10])


def arrays(rows: list[tuple[int, int, float, int]]) -> RatingArrays:
    user, movie, stars, ts = (np.array(column) for column in zip(*rows, strict=True))
    return RatingArrays(
        user.astype(np.int64), movie.astype(np.int64), stars.astype(np.float64), ts.astype(np.int64)
    )


def test_each_bad_line_is_counted_once_under_its_first_reason() -> None:
    rows = [
        (1, 1, 4.0, 10),
        (0, 1, 4.0, 10),  # invalid user (and nothing else)
        (2, 99, 7.0, 10),  # stars out of range, and an unknown movie
        (2, 1, float("nan"), 10),
        (2, 2, 2.25, 10),
        (2, 3, 3.0, -5),
        (2, 10, 3.0, MAX_TIMESTAMP + 1),
        (3, 99, 3.0, 10),
    ]

    selected, skipped = select_ratings(arrays(rows), KNOWN)

    assert skipped == Counter(
        {
            "invalid user id": 1,
            "stars out of range": 2,
            "stars not in half steps": 1,
            "timestamp out of range": 2,
            "unknown movie": 1,
        }
    )
    assert (selected.user.tolist(), selected.movie.tolist()) == ([1], [1])


def test_duplicates_keep_the_latest_and_on_ties_the_last_line() -> None:
    rows = [
        (2, 1, 1.0, 30),
        (1, 2, 2.0, 20),
        (2, 1, 2.0, 10),
        (1, 2, 3.0, 20),  # same time as the line above: the later line wins
        (1, 1, 4.0, 5),
    ]

    selected, skipped = select_ratings(arrays(rows), KNOWN)

    assert skipped == Counter({"duplicate user and movie in the file (kept the latest)": 2})
    got = list(
        zip(selected.user.tolist(), selected.movie.tolist(), selected.stars.tolist(), strict=True)
    )
    assert got == [(1, 1, 4.0), (1, 2, 3.0), (2, 1, 1.0)]
    users, n_ratings, first_seen = selected.users()
    assert (users.tolist(), n_ratings.tolist(), first_seen.tolist()) == ([1, 2], [2, 1], [5, 30])


@given(
    st.lists(
        st.tuples(
            st.integers(-1, 4),
            st.integers(0, 12),
            st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.3, 5.0, 5.5]),
            st.integers(-1, 50),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_selection_matches_a_plain_python_reading(rows: list[tuple[int, int, float, int]]) -> None:
    selected, skipped = select_ratings(arrays(rows), KNOWN)

    best: dict[tuple[int, int], tuple[int, int, float]] = {}
    for line, (user, movie, stars, ts) in enumerate(rows):
        half_step = 0.5 <= stars <= 5 and stars * 2 == int(stars * 2)
        if not (user > 0 and half_step and ts >= 0 and movie in KNOWN.tolist()):
            continue
        if (user, movie) not in best or (ts, line) >= best[(user, movie)][:2]:
            best[(user, movie)] = (ts, line, stars)
    expected = [(u, m, best[(u, m)][2], best[(u, m)][0]) for u, m in sorted(best)]
    got = list(
        zip(
            selected.user.tolist(),
            selected.movie.tolist(),
            selected.stars.tolist(),
            selected.timestamp.tolist(),
            strict=True,
        )
    )
    assert got == expected
    assert selected.n + sum(skipped.values()) == len(rows)


@given(st.lists(st.integers(0, MAX_TIMESTAMP), min_size=1, max_size=50))
def test_utc_text_is_what_sqlalchemy_writes_for_sqlite(timestamps: list[int]) -> None:
    write = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert write is not None

    text = utc_text(np.array(timestamps, dtype=np.int64), ".000000").to_pylist()

    assert text == [
        write(datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)) for ts in timestamps
    ]


def test_utc_text_with_a_zone_suffix_for_postgres() -> None:
    assert utc_text(np.array([0, 86_399, 964_982_703]), "+00").to_pylist() == [
        "1970-01-01 00:00:00+00",
        "1970-01-01 23:59:59+00",
        "2000-07-30 18:45:03+00",
    ]
    assert utc_text(np.array([], dtype=np.int64)).to_pylist() == []


@given(
    st.lists(st.integers(-3, 40), max_size=30),
    st.lists(st.integers(0, 40), max_size=10, unique=True),
)
def test_known_mask_table_and_search_agree(ids: list[int], known: list[int]) -> None:
    id_array, known_array = np.array(ids, dtype=np.int64), np.array(sorted(known), dtype=np.int64)
    expected = [i in known for i in ids]

    assert known_mask(id_array, known_array).tolist() == expected
    original = selection.LOOKUP_TABLE_MAX_ID
    selection.LOOKUP_TABLE_MAX_ID = -1  # force the binary search
    try:
        assert known_mask(id_array, known_array).tolist() == expected
    finally:
        selection.LOOKUP_TABLE_MAX_ID = original
