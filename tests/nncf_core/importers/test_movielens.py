from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from nncf_core.cli import main
from nncf_core.db.engine import Database
from nncf_core.db.models import Rating, User
from nncf_core.importers import bulk, files
from nncf_core.importers.movielens import import_movielens
from nncf_core.titles import normalize, split_title
from tests.conftest import MOVIELENS_SMALL
from tests.nncf_core.importers.conftest import RowWrites, counts, movies, ratings, users
from tests.nncf_core.importers.data import (
    LAYOUTS,
    MOVIES,
    RATINGS,
    TinyMovie,
    expected_ratings,
    ratings_file,
    write_layout,
)


def utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_imports_the_tiny_folder(db: Database, tmp_path: Path, layout: str) -> None:
    folder = write_layout(tmp_path / layout, layout)

    summary = import_movielens(db, folder)

    expected = expected_ratings(layout)
    assert (summary.layout, summary.movies_added, summary.users_added) == (layout, 4, 3)
    assert (summary.ratings_added, summary.ratings_updated) == (len(expected), 0)
    skips = {"stars out of range": 2, "unknown movie": 1}
    skips["duplicate user and movie in the file (kept the latest)"] = 1
    if layout != "ml-100k":
        skips["stars not in half steps"] = 1
    assert dict(summary.ratings_skipped) == skips
    assert "2 skipped: stars out of range" in str(summary)
    assert "1 skipped: unknown movie" in str(summary)

    stored = movies(db)
    matrix = stored[2]
    assert (matrix.title, matrix.year, matrix.title_normalized) == (
        "The Matrix",
        1999,
        "the matrix",
    )
    assert matrix.genres == "Action|Sci-Fi|Thriller"
    amelie = stored[3]
    assert (amelie.title, amelie.year) == split_title(MOVIES[2].raw_title)
    assert amelie.title.startswith("Amélie") and amelie.title_normalized == normalize(amelie.title)
    assert stored[1].genres == "Adventure|Animation|Children|Comedy|Fantasy"
    assert stored[4].genres == ("" if layout == "ml-100k" else "(no genres listed)")
    if layout == "csv":
        assert (matrix.imdb_id, matrix.tmdb_id) == ("0133093", 603)
        assert (stored[4].imdb_id, stored[4].tmdb_id) == ("1234567", None)
    else:
        assert (matrix.imdb_id, matrix.tmdb_id) == (None, None)

    first_rating = {
        user: min(ts for (u, _), (_, ts) in expected.items() if u == user) for user in (1, 2, 3)
    }
    created = db.read(lambda s: dict(s.execute(select(User.external_id, User.created_at)).all()))
    assert created == {f"movielens:{user}": utc(ts) for user, ts in first_rating.items()}
    assert ratings(db) == {
        (f"movielens:{user}", movie): (stars, utc(ts), utc(ts), "import")
        for (user, movie), (stars, ts) in expected.items()
    }


@pytest.mark.parametrize("layout", LAYOUTS)
def test_importing_twice_changes_nothing(db: Database, tmp_path: Path, layout: str) -> None:
    folder = write_layout(tmp_path / layout, layout)
    import_movielens(db, folder)
    before, stored = counts(db), ratings(db)
    writes = RowWrites(db)

    again = import_movielens(db, folder)

    assert not again.changed
    assert (again.movies_added, again.movies_updated, again.movies_unchanged) == (0, 0, 4)
    assert (again.users_added, again.users_existing) == (0, 3)
    assert (again.ratings_added, again.ratings_updated) == (0, 0)
    assert again.ratings_unchanged == len(expected_ratings(layout))
    assert counts(db) == before
    assert ratings(db) == stored
    assert writes.updates() == {}


def test_changed_file_updates_what_changed_and_keeps_newer_ratings(
    db: Database, tmp_path: Path
) -> None:
    import_movielens(db, write_layout(tmp_path / "v1", "csv"))
    writes = RowWrites(db)
    changed_movies = [TinyMovie(1, "Toy Story (1996)", MOVIES[0].genres, "0114709", 862)]
    changed_movies += MOVIES[1:]
    changed_ratings = [
        (1, 1, 2.5, 964_982_703 + 10),  # re-rated later: update
        (1, 2, 1.0, 964_981_247 - 10),  # an older line than the stored one: skipped
        (1, 3, 4.5, 964_990_000),  # new
        *RATINGS[2:],
    ]

    summary = import_movielens(
        db, write_layout(tmp_path / "v2", "csv", changed_movies, changed_ratings)
    )

    assert (summary.movies_added, summary.movies_updated, summary.movies_unchanged) == (0, 1, 3)
    assert (summary.ratings_added, summary.ratings_updated) == (1, 1)
    assert summary.ratings_skipped["a newer rating is already stored"] == 1
    assert writes.updates() == {"movies": 1, "ratings": 1}
    assert movies(db)[1].year == 1996
    stored = ratings(db)
    assert stored[("movielens:1", 1)] == (2.5, utc(964_982_703), utc(964_982_713), "import")
    assert stored[("movielens:1", 2)][0] == 5.0
    assert stored[("movielens:1", 3)][0] == 4.5


def test_links_are_kept_when_a_layout_without_links_is_imported(
    db: Database, tmp_path: Path
) -> None:
    import_movielens(db, write_layout(tmp_path / "csv", "csv"))

    summary = import_movielens(db, write_layout(tmp_path / "dat", "dat"))

    assert summary.movies_updated == 0
    assert movies(db)[2].imdb_id == "0133093"


def test_earlier_users_are_reused_and_rows_follow_database_ids(
    db: Database, tmp_path: Path
) -> None:
    # User 3 first, then a Discord user, then everyone: MovieLens users 1 and 2 get database
    # ids above user 3's, so the rows must be re-sorted by database id before the insert.
    import_movielens(db, write_layout(tmp_path / "first", "csv", ratings=RATINGS[4:6]))
    with db.session() as session:
        session.add(User(discord_id=42, created_at=utc(0)))

    summary = import_movielens(db, write_layout(tmp_path / "all", "csv"))

    assert (summary.users_added, summary.users_existing) == (2, 1)
    ids = users(db)
    assert ids["movielens:3"] < ids[None] < ids["movielens:1"] < ids["movielens:2"]
    assert ratings(db) == {
        (f"movielens:{user}", movie): (stars, utc(ts), utc(ts), "import")
        for (user, movie), (stars, ts) in expected_ratings("csv").items()
    }


def test_a_newer_rating_made_in_the_bot_is_not_overwritten(db: Database, tmp_path: Path) -> None:
    folder = write_layout(tmp_path / "csv", "csv")
    import_movielens(db, folder)
    user_1 = select(User.id).where(User.external_id == "movielens:1").scalar_subquery()
    with db.engine.begin() as connection:
        connection.execute(
            update(Rating)
            .where(Rating.user_id == user_1, Rating.movie_id == 1)
            .values(stars=1.5, updated_at=datetime(2030, 1, 1, tzinfo=UTC), source="console")
        )

    summary = import_movielens(db, folder)

    assert summary.ratings_updated == 0
    assert summary.ratings_skipped["a newer rating is already stored"] == 1
    stars, _, updated_at, source = ratings(db)[("movielens:1", 1)]
    assert (stars, updated_at.year, source) == (1.5, 2030, "console")


def test_imported_datetimes_are_stored_as_the_orm_stores_them(
    sqlite_db: Database, tmp_path: Path
) -> None:
    import_movielens(sqlite_db, write_layout(tmp_path / "csv", "csv"))
    when = utc(964_982_703)  # user 1's rating of movie 1
    with sqlite_db.session() as session:
        user_2 = session.scalar(select(User.id).where(User.external_id == "movielens:2"))
        session.add(
            Rating(
                user_id=user_2,
                movie_id=4,
                stars=1.0,
                created_at=when,
                updated_at=when,
                source="console",
            )
        )

    with sqlite_db.engine.connect() as connection:
        raw = dict(
            connection.execute(
                text(
                    "SELECT source, created_at || '/' || updated_at FROM ratings "
                    "WHERE (movie_id = 1 AND source = 'import' AND created_at LIKE '2000-%') "
                    "OR source = 'console'"
                )
            ).all()
        )
    assert (
        raw["import"] == raw["console"] == "2000-07-30 18:45:03.000000/2000-07-30 18:45:03.000000"
    )


def test_ml_latest_small_imports_and_reimports(sqlite_db: Database) -> None:
    if not (MOVIELENS_SMALL / "ratings.csv").is_file():
        pytest.skip(f"{MOVIELENS_SMALL} is not there")

    first = import_movielens(sqlite_db, MOVIELENS_SMALL)
    second = import_movielens(sqlite_db, MOVIELENS_SMALL)

    assert counts(sqlite_db) == (9_125, 671, 100_004)
    assert (first.movies_added, first.users_added, first.ratings_added) == (9_125, 671, 100_004)
    assert first.n_skipped == 0
    assert (second.ratings_added, second.ratings_updated, second.ratings_unchanged) == (
        0,
        0,
        100_004,
    )
    assert (second.movies_added, second.movies_updated, second.users_added) == (0, 0, 0)
    toy_story = movies(sqlite_db)[1]
    assert (toy_story.title, toy_story.year, toy_story.imdb_id, toy_story.tmdb_id) == (
        "Toy Story",
        1995,
        "0114709",
        862,
    )


def index_definitions(db: Database) -> list[tuple[str, str]]:
    query = (
        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'ratings' ORDER BY 1"
        if db.is_sqlite
        else "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ratings' "
        "AND schemaname = current_schema() ORDER BY 1"
    )
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query))]  # type: ignore[misc]


def test_indexes_are_rebuilt_as_they_were(db: Database, tmp_path: Path) -> None:
    before = index_definitions(db)
    names = [name for name, _ in before]
    assert {"ix_ratings_movie_id", "ix_ratings_updated_at"} <= set(names)

    import_movielens(db, write_layout(tmp_path / "csv", "csv"))

    assert index_definitions(db) == before


def test_the_sqlite_connection_settings_are_restored(sqlite_db: Database, tmp_path: Path) -> None:
    import_movielens(sqlite_db, write_layout(tmp_path / "csv", "csv"))

    with sqlite_db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA ignore_check_constraints")).scalar() == 0
        assert connection.execute(text("PRAGMA cache_size")).scalar() == -2000
        assert [row[1] for row in connection.execute(text("PRAGMA database_list"))] == ["main"]
        assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_a_failure_while_writing_leaves_the_database_unchanged(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bulk, "_write_ratings", fail)

    with pytest.raises(RuntimeError, match="disk on fire"):
        import_movielens(db, write_layout(tmp_path / "csv", "csv"))

    assert counts(db) == (0, 0, 0)
    monkeypatch.undo()
    summary = import_movielens(db, write_layout(tmp_path / "csv", "csv"))
    assert summary.ratings_added == len(expected_ratings("csv"))


def test_progress_bars_on_big_files(
    sqlite_db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = write_layout(tmp_path / "csv", "csv")
    import_movielens(sqlite_db, folder, progress=True)
    assert capsys.readouterr().err == ""  # a small file: no bars
    monkeypatch.setattr(files, "PROGRESS_MIN_BYTES", 0)

    import_movielens(sqlite_db, folder, progress=True)

    err = capsys.readouterr().err
    assert "reading ratings.csv" in err
    assert "writing ratings" in err


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as stop:  # typer exits 0 on success
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_imports_and_reports(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    folder = write_layout(tmp_path / "ml", "ml-100k")

    code, out, _ = cli(capsys, "import", "movielens", str(folder), "--no-progress")
    assert code == 0
    assert "movies:  4 added" in out
    assert f"ratings: {len(expected_ratings('ml-100k'))} added" in out

    code, out, _ = cli(capsys, "import", "movielens", str(folder), "--json")
    assert code == 0
    assert json.loads(out)["ratings_unchanged"] == len(expected_ratings("ml-100k"))

    ratings_file(folder, "ml-100k").write_text("1\t2\n")
    code, _, err = cli(capsys, "import", "movielens", str(folder), "--no-progress")
    assert code == 1
    assert "u.data, line 1: expected 4 fields" in err


def test_a_connection_that_cannot_be_restored_is_discarded(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bulk._set_pragmas
    calls: list[dict[str, int]] = []

    def fail_on_restore(connection: object, values: dict[str, int]) -> dict[str, int]:
        calls.append(values)
        if len(calls) == 2:
            raise OSError("restore failed")
        return real(connection, values)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk, "_set_pragmas", fail_on_restore)

    summary = import_movielens(sqlite_db, write_layout(tmp_path / "csv", "csv"))

    assert summary.ratings_added == len(expected_ratings("csv"))
    assert len(calls) == 2
    with sqlite_db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert [row[1] for row in connection.execute(text("PRAGMA database_list"))] == ["main"]
