"""Reading the three MovieLens layouts GroupLens publishes into plain rows and numpy arrays.

Nothing here touches the database: every format problem is found (and reported with
its file and line) before the import opens its transaction.

* CSV (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m): ``ratings.csv``,
  ``movies.csv`` and (optional) ``links.csv``, UTF-8 with a header line.
* ``::``-separated (ml-1m, ml-10m): ``ratings.dat`` and ``movies.dat`` without a header;
  ml-1m is Latin-1, so ``movies.dat`` is read as UTF-8 when it is valid UTF-8 and as
  Latin-1 otherwise (every byte is a Latin-1 character).
* ml-100k: ``u.data`` (tab-separated) and ``u.item`` (``|``-separated, Latin-1, 19
  genre flags).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm import tqdm

from nncf_core.errors import ImportFailed, ImportFileError
from nncf_core.titles import normalize, split_title

log = logging.getLogger(__name__)

MAX_INT32 = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TEXT = 500
"""``movies.title`` and ``movies.genres`` are VARCHAR(500)."""
PROGRESS_MIN_BYTES = 4 * 1024 * 1024
"""Files smaller than this load in well under a second: no progress bar."""
READ_CHUNK = 16 * 1024 * 1024

ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
# ml-100k and ml-1m spell one genre differently from the later releases ("Children");
# ml-100k's "unknown" is no genre.
_ML100K_RENAME = {"Children's": "Children", "unknown": ""}

SKIP_DUPLICATE_MOVIE = "duplicate movie id (kept the first)"
SKIP_EMPTY_TITLE = "empty title"


@dataclass(frozen=True)
class Layout:
    """Which files of a MovieLens folder hold what."""

    name: str
    """``csv``, ``dat`` or ``ml-100k``."""
    ratings: Path
    movies: Path
    links: Path | None = None


@dataclass(frozen=True)
class MovieRow:
    id: int
    title: str
    year: int | None
    genres: str
    title_normalized: str
    imdb_id: str | None = None
    tmdb_id: int | None = None


@dataclass
class MovieFile:
    movies: list[MovieRow]
    has_links: bool
    """False when the layout has no ``links.csv``: stored imdb/tmdb ids are then kept."""
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class RatingArrays:
    """The ratings file as read, one entry per line, in file order."""

    user: np.ndarray
    movie: np.ndarray
    stars: np.ndarray
    timestamp: np.ndarray

    @property
    def n(self) -> int:
        return len(self.user)


def detect_layout(folder: Path) -> Layout:
    """The layout of ``folder``, or :class:`ImportFailed` naming the files it lacks."""
    if not folder.is_dir():
        raise ImportFailed(f"{folder} is not a folder; give the unzipped MovieLens folder.")
    candidates = (
        Layout("csv", folder / "ratings.csv", folder / "movies.csv", folder / "links.csv"),
        Layout("dat", folder / "ratings.dat", folder / "movies.dat"),
        Layout("ml-100k", folder / "u.data", folder / "u.item"),
    )
    for layout in candidates:
        if layout.ratings.is_file():
            if not layout.movies.is_file():
                raise ImportFileError(
                    str(layout.movies),
                    f"file not found (it belongs with {layout.ratings.name})",
                )
            links = layout.links if layout.links and layout.links.is_file() else None
            return Layout(layout.name, layout.ratings, layout.movies, links)
    raise ImportFailed(
        f"{folder} holds no MovieLens ratings: expected ratings.csv (ml-latest, ml-20m/25m/32m), "
        "ratings.dat (ml-1m, ml-10m) or u.data (ml-100k). Nothing was imported."
    )


# --- movies ---------------------------------------------------------------------------------


def read_movies(layout: Layout) -> MovieFile:
    if layout.name == "csv":
        result = _read_movies_csv(layout.movies)
        if layout.links is not None:
            _apply_links(result, _read_links(layout.links))
            result.has_links = True
        return result
    if layout.name == "dat":
        return _read_movies_dat(layout.movies)
    return _read_movies_100k(layout.movies)


class _MovieCollector:
    """Checks and collects movie rows; the first row of an id wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[int, MovieRow] = {}
        self.skipped: Counter[str] = Counter()

    def add(self, line: int, raw_id: str, raw_title: str, genres: str) -> None:
        movie_id = _parse_id(self.path, line, "movie id", raw_id)
        # After the year is split off: "(1999)" alone is no title either.
        title, year = split_title(raw_title)
        if not title:
            self.skipped[SKIP_EMPTY_TITLE] += 1
            return
        if movie_id in self.rows:
            self.skipped[SKIP_DUPLICATE_MOVIE] += 1
            return
        normalized = normalize(title)
        # The search form can outgrow the title ("ﬃ" is "ffi"); all three are VARCHAR(500).
        for name, value in (("title", title), ("genres", genres), ("title", normalized)):
            if len(value) > MAX_TEXT:
                raise ImportFileError(
                    str(self.path), f"{name} longer than {MAX_TEXT} characters", line
                )
            # PostgreSQL text cannot hold NUL; refuse it on SQLite too, so both agree.
            if "\x00" in value:
                raise ImportFileError(str(self.path), f"{name} contains a NUL character", line)
        self.rows[movie_id] = MovieRow(movie_id, title, year, genres, normalized)

    def result(self, has_links: bool = False) -> MovieFile:
        return MovieFile(list(self.rows.values()), has_links, self.skipped)


def _read_movies_csv(path: Path) -> MovieFile:
    collector = _MovieCollector(path)
    for line, (raw_id, title, genres) in _csv_records(path, ("movieId", "title", "genres")):
        collector.add(line, raw_id, title, genres)
    return collector.result()


def _read_movies_dat(path: Path) -> MovieFile:
    collector = _MovieCollector(path)
    for line, text in _text_lines(path, "utf-8", fallback="latin-1"):
        parts = text.split("::")
        if len(parts) < 3:
            raise ImportFileError(
                str(path), "expected MovieID::Title::Genres, found " + repr(text[:80]), line
            )
        genres = "|".join(_ML100K_RENAME.get(g, g) for g in parts[-1].split("|"))
        collector.add(line, parts[0], "::".join(parts[1:-1]), genres.strip("|"))
    return collector.result()


def _read_movies_100k(path: Path) -> MovieFile:
    collector = _MovieCollector(path)
    n_fields = 5 + len(ML100K_GENRES)
    for line, text in _text_lines(path, "latin-1"):
        parts = text.split("|")
        if len(parts) != n_fields:
            raise ImportFileError(
                str(path), f"expected {n_fields} fields separated by '|', found {len(parts)}", line
            )
        flags = parts[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise ImportFileError(str(path), "genre flags must be 0 or 1", line)
        genres = [
            _ML100K_RENAME.get(name, name)
            for name, flag in zip(ML100K_GENRES, flags, strict=True)
            if flag == "1"
        ]
        collector.add(line, parts[0], parts[1], "|".join(g for g in genres if g))
    return collector.result()


def _read_links(path: Path) -> dict[int, tuple[str | None, int | None]]:
    links: dict[int, tuple[str | None, int | None]] = {}
    for line, fields in _csv_records(path, ("movieId", "imdbId", "tmdbId")):
        raw_movie, raw_imdb, raw_tmdb = (value.strip() for value in fields)
        movie_id = _parse_id(path, line, "movieId", raw_movie)
        # imdb ids keep their leading zeros ("0114709"): they are text, as in links.csv.
        if raw_imdb and not (raw_imdb.isascii() and raw_imdb.isdigit() and len(raw_imdb) <= 16):
            raise ImportFileError(str(path), f"imdbId {raw_imdb!r} is not a number", line)
        tmdb = _parse_id(path, line, "tmdbId", raw_tmdb) if raw_tmdb else None
        links.setdefault(movie_id, (raw_imdb or None, tmdb))
    return links


def _apply_links(movies: MovieFile, links: dict[int, tuple[str | None, int | None]]) -> None:
    movies.movies = [
        MovieRow(
            m.id, m.title, m.year, m.genres, m.title_normalized, *links.get(m.id, (None, None))
        )
        for m in movies.movies
    ]


def _parse_id(path: Path, line: int, name: str, raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        raise ImportFileError(str(path), f"{name} {raw!r} is not a whole number", line)
    value = int(text)
    if not 0 < value <= MAX_INT32:
        raise ImportFileError(str(path), f"{name} {value} is out of range", line)
    return value


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        name = "UTF-8" if encoding.startswith("utf-8") else encoding
        raise ImportFileError(
            str(path), f"bytes that are not valid {name} ({error.reason})", line
        ) from None


def _read_text(path: Path, encoding: str, fallback: str | None = None) -> str:
    data = path.read_bytes()
    if fallback is not None:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            return data.decode(fallback)
    return _decode(path, data, encoding)


def _text_lines(path: Path, encoding: str, fallback: str | None = None) -> list[tuple[int, str]]:
    text = _read_text(path, encoding, fallback)
    lines = text.split("\n")
    return [
        (number, line.rstrip("\r")) for number, line in enumerate(lines, start=1) if line.strip()
    ]


def _csv_records(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number, the required fields in ``required`` order) for each row after the header."""
    text = _read_text(path, "utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise ImportFileError(str(path), f"empty file (expected the header {','.join(required)})")
    positions = _header_positions(path, header, required)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportFileError(str(path), f"not valid CSV ({error})", reader.line_num) from None
        if not row:
            continue
        if len(row) != len(header):
            raise ImportFileError(
                str(path),
                f"expected {len(header)} fields like the header, found {len(row)}",
                reader.line_num,
            )
        yield reader.line_num, [row[i] for i in positions]


def _header_positions(path: Path, header: list[str], required: tuple[str, ...]) -> list[int]:
    names = [name.strip() for name in header]
    missing = [name for name in required if name not in names]
    if missing:
        raise ImportFileError(
            str(path),
            f"missing column {', '.join(missing)} (expected {','.join(required)}; "
            f"found {','.join(names)[:200]})",
            1,
        )
    return [names.index(name) for name in required]


# --- ratings --------------------------------------------------------------------------------

# What pyarrow accepts, so that the line it refused is the one found: no "+" on integers.
_INT = re.compile(rb"-?\d+")
_FLOAT = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?i:nan|inf|infinity)")
_CSV_RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
_DAT_RATING_COLUMNS = ("UserID", "MovieID", "Rating", "Timestamp")
_100K_RATING_COLUMNS = ("user id", "item id", "rating", "timestamp")
_ARROW_TYPES = (pa.int64(), pa.int64(), pa.float64(), pa.int64())


@dataclass(frozen=True)
class _RatingsFormat:
    names: tuple[str, ...]
    separator: bytes
    """As written in the file (for messages); parsed after replacing it by ``delimiter``."""
    delimiter: str
    header: bool


_FORMATS = {
    "csv": _RatingsFormat(_CSV_RATING_COLUMNS, b",", ",", header=True),
    "dat": _RatingsFormat(_DAT_RATING_COLUMNS, b"::", "\t", header=False),
    "ml-100k": _RatingsFormat(_100K_RATING_COLUMNS, b"\t", "\t", header=False),
}


def read_ratings(layout: Layout, *, progress: bool = False) -> RatingArrays:
    """Every line of the ratings file as numpy arrays (user, movie, stars, timestamp)."""
    fmt = _FORMATS[layout.name]
    path = layout.ratings
    data = read_bytes(path, progress=progress)
    if fmt.separator.decode() != fmt.delimiter:
        data = data.replace(fmt.separator, fmt.delimiter.encode())
    positions, width = list(range(4)), 4
    if fmt.header:
        first = data.split(b"\n", 1)[0].rstrip(b"\r")
        if not first.strip():
            raise ImportFileError(
                str(path), f"empty file (expected the header {','.join(fmt.names)})"
            )
        header = next(csv.reader([_decode(path, first, "utf-8-sig")]))
        positions = _header_positions(path, header, fmt.names)
        width = len(header)
    try:
        table = _parse_ratings(data, fmt)
    except pa.ArrowInvalid as error:
        raise _locate_bad_line(path, data, fmt, positions, width, str(error)) from None
    if any(column.null_count for column in table.columns):
        raise _locate_bad_line(path, data, fmt, positions, width, "empty value")
    # pyarrow reads "0x10" as 16. Ids and times in these files are decimal, so a line
    # with hex is malformed; an "x" anywhere after the header is rare enough to check.
    body = data.find(b"\n") + 1 if fmt.header else 0
    if data.find(b"x", body) >= 0 or data.find(b"X", body) >= 0:
        bad = _first_bad_line(path, data, fmt, positions, width)
        if bad is not None:
            raise bad
    arrays = [table.column(i).to_numpy() for i in range(4)]
    return RatingArrays(*arrays)


def wants_progress(layout: Layout, progress: bool) -> bool:
    """Progress bars only for ratings files big enough to take a while."""
    return progress and layout.ratings.stat().st_size >= PROGRESS_MIN_BYTES


def read_bytes(path: Path, *, progress: bool = False) -> bytes:
    """The file's bytes, with a progress bar if asked for."""
    size = path.stat().st_size
    if not progress:
        return path.read_bytes()
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    with (
        path.open("rb") as handle,
        tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {path.name}") as bar,
    ):
        while done < size:
            n = handle.readinto(view[done : done + READ_CHUNK])
            if not n:
                break
            done += n
            bar.update(n)
    return bytes(view[:done])


def _parse_ratings(data: bytes, fmt: _RatingsFormat) -> pa.Table:
    names = list(fmt.names)
    read_options = (
        pacsv.ReadOptions(block_size=8 * 1024 * 1024)
        if fmt.header
        else pacsv.ReadOptions(column_names=names, block_size=8 * 1024 * 1024)
    )
    parse_options = pacsv.ParseOptions(
        delimiter=fmt.delimiter, quote_char='"' if fmt.header else False
    )
    convert_options = pacsv.ConvertOptions(
        column_types=dict(zip(names, _ARROW_TYPES, strict=True)),
        include_columns=names,
        null_values=[""],
        strings_can_be_null=False,
    )
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=read_options,
        parse_options=parse_options,
        convert_options=convert_options,
    )


def _locate_bad_line(
    path: Path, data: bytes, fmt: _RatingsFormat, positions: list[int], width: int, detail: str
) -> ImportFileError:
    """The error for the first malformed line, or pyarrow's ``detail`` if none is found."""
    found = _first_bad_line(path, data, fmt, positions, width)
    if found is not None:
        return found
    log.warning("could not find the bad line of %s: %s", path, detail)
    return ImportFileError(str(path), f"could not be read ({detail})")


def _first_bad_line(
    path: Path, data: bytes, fmt: _RatingsFormat, positions: list[int], width: int
) -> ImportFileError | None:
    """Find the first malformed line (slow, pure Python: only on the error path)."""
    separator = fmt.delimiter.encode()
    kinds = ("whole number", "whole number", "number", "whole number")
    lines = data.split(b"\n")
    for number, raw in enumerate(lines[1:] if fmt.header else lines, start=2 if fmt.header else 1):
        line = raw.rstrip(b"\r")
        # pyarrow skips empty lines only: a line of blanks is a line with one field.
        if not line:
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return ImportFileError(str(path), "bytes that are not valid UTF-8", number)
        fields = line.split(separator)
        if len(fields) != width:
            shown = fmt.separator.decode().replace("\t", "tab")
            return ImportFileError(
                str(path),
                f"expected {width} fields separated by {shown!r}, found {len(fields)}",
                number,
            )
        for position, name, kind in zip(positions, fmt.names, kinds, strict=True):
            # pyarrow drops the quotes and the blanks around a value.
            value = fields[position].strip().strip(b'"').strip()
            if not value:
                return ImportFileError(str(path), f"{name} is empty", number)
            pattern = _FLOAT if kind == "number" else _INT
            if not pattern.fullmatch(value):
                return ImportFileError(
                    str(path), f"{name} {value.decode()!r} is not a {kind}", number
                )
            if kind == "whole number" and not INT64_MIN <= int(value) <= INT64_MAX:
                return ImportFileError(
                    str(path), f"{name} {value.decode()} is out of range", number
                )
    return None
