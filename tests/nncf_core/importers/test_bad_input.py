"""Malformed folders are refused with the file and line, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from nncf_core.db.engine import Database
from nncf_core.errors import ImportFailed, ImportFileError
from nncf_core.importers.movielens import import_movielens
from tests.nncf_core.importers.conftest import counts
from tests.nncf_core.importers.data import movies_file, ratings_file, write_layout


def replace_line(path: Path, number: int, content: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = content
    path.write_bytes(b"\n".join(lines))


# (layout, which file, line to replace (None: the whole file), new content, problem, line)
CASES = [
    ("csv", "ratings", 1, b"userId,movieId,stars,timestamp", "missing column rating", 1),
    ("csv", "ratings", 4, b"1,abc,4.0,964982703", "movieId 'abc' is not a whole number", 4),
    ("csv", "ratings", 3, b"1,2,4.0", "expected 4 fields separated by ','", 3),
    ("csv", "ratings", 5, b"2,,4.0,964982703", "movieId is empty", 5),
    ("csv", "ratings", 6, b"2,3,4.\xff,964982703", "bytes that are not valid UTF-8", 6),
    ("csv", "ratings", 2, b"1,1,four,964982703", "rating 'four' is not a number", 2),
    ("csv", "ratings", 3, b"0x10,1,4.0,964982703", "userId '0x10' is not a whole number", 3),
    ("csv", "ratings", 3, b"1,2,4.0,0X5", "timestamp '0X5' is not a whole number", 3),
    ("csv", "ratings", None, b"", "empty file", None),
    ("csv", "movies", 3, b"2,Matrix \xe9 (1999),Action", "bytes that are not valid UTF-8", 3),
    ("csv", "movies", 1, b"movieId,name,genres", "missing column title", 1),
    ("csv", "movies", 2, b"x1,Toy Story (1995),Comedy", "movie id 'x1' is not a whole number", 2),
    ("csv", "movies", 2, b"1,Toy Story (1995),Comedy,extra", "expected 3 fields", 2),
    ("csv", "movies", 2, b"99999999999,Toy Story (1995),Comedy", "out of range", 2),
    ("csv", "links", 2, b"1,tt0114709,862", "imdbId 'tt0114709' is not a number", 2),
    ("dat", "ratings", 2, b"1::2::4", "expected 4 fields separated by '::'", 2),
    ("dat", "ratings", 3, b"1::2::4::x", "Timestamp 'x' is not a whole number", 3),
    ("dat", "movies", 1, b"1::Toy Story (1995)", "expected MovieID::Title::Genres", 1),
    ("ml-100k", "ratings", 1, b"196 242 3 881250949", "expected 4 fields separated by 'tab'", 1),
    ("ml-100k", "movies", 2, b"2|Matrix, The (1999)|x||u|" + b"0|" * 18 + b"2", "0 or 1", 2),
    ("ml-100k", "movies", 2, b"2|Matrix, The (1999)|x||u|0|1", "expected 24 fields", 2),
]


@pytest.mark.parametrize(("layout", "which", "number", "content", "problem", "line"), CASES)
def test_malformed_files_are_refused_with_file_and_line(
    sqlite_db: Database,
    tmp_path: Path,
    layout: str,
    which: str,
    number: int | None,
    content: bytes,
    problem: str,
    line: int | None,
) -> None:
    folder = write_layout(tmp_path / layout, layout)
    path = {
        "ratings": ratings_file(folder, layout),
        "movies": movies_file(folder, layout),
        "links": folder / "links.csv",
    }[which]
    if number is None:
        path.write_bytes(content)
    else:
        replace_line(path, number, content)

    with pytest.raises(ImportFileError) as raised:
        import_movielens(sqlite_db, folder)

    error = raised.value
    assert (Path(error.path).name, error.line) == (path.name, line)
    assert problem in error.problem
    assert str(error).endswith("Nothing was imported.")
    assert counts(sqlite_db) == (0, 0, 0)


def test_a_bad_line_after_good_ones_writes_nothing_on_postgres_too(
    db: Database, tmp_path: Path
) -> None:
    folder = write_layout(tmp_path / "csv", "csv")
    with ratings_file(folder, "csv").open("ab") as out:
        out.write(b"7,1,3.0\n")

    with pytest.raises(ImportFileError, match=r"ratings.csv, line 13: expected 4 fields"):
        import_movielens(db, folder)

    assert counts(db) == (0, 0, 0)


def test_missing_files_and_folders(sqlite_db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="is not a folder"):
        import_movielens(sqlite_db, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportFailed, match="holds no MovieLens ratings"):
        import_movielens(sqlite_db, tmp_path / "empty")
    for layout in ("csv", "dat", "ml-100k"):
        folder = write_layout(tmp_path / layout, layout)
        movies_file(folder, layout).unlink()
        with pytest.raises(ImportFileError, match="file not found") as raised:
            import_movielens(sqlite_db, folder)
        assert Path(raised.value.path) == movies_file(folder, layout)
    assert counts(sqlite_db) == (0, 0, 0)


def test_links_are_optional(sqlite_db: Database, tmp_path: Path) -> None:
    folder = write_layout(tmp_path / "csv", "csv")
    (folder / "links.csv").unlink()

    summary = import_movielens(sqlite_db, folder)

    assert summary.movies_added == 4


def test_duplicate_and_untitled_movies_are_counted(sqlite_db: Database, tmp_path: Path) -> None:
    folder = write_layout(tmp_path / "csv", "csv")
    with movies_file(folder, "csv").open("a", encoding="utf-8") as out:
        out.write("2,Some Other Film (2000),Drama\n5,,Drama\n")

    summary = import_movielens(sqlite_db, folder)

    assert dict(summary.movies_skipped) == {
        "duplicate movie id (kept the first)": 1,
        "empty title": 1,
    }
    assert "1 movie skipped: empty title" in str(summary)
    assert counts(sqlite_db)[0] == 4
