"""Import a MovieLens folder (any of GroupLens's three layouts), or download ml-latest-small.

The import is idempotent: movies are matched by MovieLens movie id (which becomes
``movies.id``), users by ``users.external_id = "movielens:<userId>"`` and ratings by
(user, movie); rows whose values are equal are left alone. Files are read and checked
completely before anything is written, and everything is written in one transaction.
"""

from __future__ import annotations

import logging
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from nncf_core.db.engine import Database
from nncf_core.errors import DownloadFailed, ImportFailed
from nncf_core.importers.bulk import write_import
from nncf_core.importers.files import detect_layout, read_movies, read_ratings, wants_progress
from nncf_core.importers.summary import ImportSummary

log = logging.getLogger(__name__)

ML_LATEST_SMALL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
DOWNLOAD_TIMEOUT_S = 30.0
DOWNLOAD_CHUNK = 1024 * 1024

__all__ = ["ML_LATEST_SMALL_URL", "ImportSummary", "download_movielens", "import_movielens"]


def import_movielens(db: Database, path: Path, *, progress: bool = False) -> ImportSummary:
    """Import the MovieLens folder ``path`` into ``db``.

    Raises :class:`ImportFailed` (naming the file and line) for missing files, wrong
    columns and malformed lines, before writing anything. Lines that are well-formed
    but unusable (stars out of range, unknown movies, repeated (user, movie) pairs) are
    skipped and counted by reason in the summary.
    """
    started = time.perf_counter()
    folder = Path(path)
    layout = detect_layout(folder)
    progress = wants_progress(layout, progress)
    # The movies are parsed in Python while pyarrow parses the ratings without the GIL.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="movielens-movies") as pool:
        movies_read = pool.submit(read_movies, layout)
        ratings = read_ratings(layout, progress=progress)
        movies = movies_read.result()
    log.info(
        "read %s (%s layout): %d movies, %d rating lines in %.1f s",
        folder,
        layout.name,
        len(movies.movies),
        ratings.n,
        time.perf_counter() - started,
    )
    written = write_import(db, movies, ratings, progress=progress)
    summary = ImportSummary(
        path=folder,
        layout=layout.name,
        lines_read=ratings.n,
        movies_skipped=movies.skipped,
        seconds=time.perf_counter() - started,
        **vars(written),
    )
    log.info(
        "imported %s: %d ratings added, %d updated, %d skipped in %.1f s",
        folder,
        summary.ratings_added,
        summary.ratings_updated,
        summary.n_skipped,
        summary.seconds,
    )
    return summary


def download_movielens(
    dest: Path, *, url: str = ML_LATEST_SMALL_URL, timeout: float = DOWNLOAD_TIMEOUT_S
) -> Path:
    """Download and unzip a MovieLens zip (ml-latest-small by default) into ``dest``.

    Returns the unzipped folder. A folder already there (with its ratings file) is
    reused without downloading again. Raises :class:`DownloadFailed` when offline.
    """
    dest = Path(dest)
    name = PurePosixPath(urlparse(url).path).stem or "movielens"
    folder = dest / name
    if folder.is_dir() and _has_ratings(folder):
        log.info("MovieLens already downloaded at %s", folder)
        return folder
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{name}.zip"
    partial = archive.with_suffix(".zip.part")
    log.info("downloading %s to %s", url, archive)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, DOWNLOAD_CHUNK)
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        raise DownloadFailed(url, str(reason)) from error
    partial.replace(archive)
    return _unzip(archive, dest, url)


def _has_ratings(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("ratings.csv", "ratings.dat", "u.data"))


def _unzip(archive: Path, dest: Path, url: str) -> Path:
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = zipped.namelist()
            root = dest.resolve()
            for member in names:
                # Refuse members that would land outside dest ("../x", "/etc/x").
                if not (root / member).resolve().is_relative_to(root):
                    raise DownloadFailed(url, f"the zip holds an unsafe path {member!r}")
            zipped.extractall(dest)
    except zipfile.BadZipFile as error:
        raise DownloadFailed(url, f"the download is not a valid zip ({error})") from error
    tops = {PurePosixPath(member).parts[0] for member in names if PurePosixPath(member).parts}
    for top in sorted(tops):
        if _has_ratings(dest / top):
            return dest / top
    raise ImportFailed(f"{archive} holds no MovieLens ratings file.")
