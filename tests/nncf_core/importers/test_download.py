"""download_movielens without the internet: the offline error, and unzipping a local file."""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import pytest

from nncf_core.errors import DownloadFailed
from nncf_core.importers.movielens import download_movielens


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_offline_gives_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/ml-latest-small.zip"

    with pytest.raises(DownloadFailed) as raised:
        download_movielens(tmp_path / "data", url=url, timeout=5)

    assert raised.value.url == url
    assert "Could not download" in str(raised.value)
    assert "nncf-bot import movielens DIR" in str(raised.value)
    assert list((tmp_path / "data").iterdir()) == []


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        for name, content in members.items():
            zipped.writestr(name, content)
    return path


def test_a_zip_is_unzipped_once_and_reused(tmp_path: Path) -> None:
    source = make_zip(
        tmp_path / "ml-latest-small.zip",
        {
            "ml-latest-small/ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,1\n",
            "ml-latest-small/movies.csv": "movieId,title,genres\n1,Toy Story (1995),Comedy\n",
        },
    )
    url = source.as_uri()

    folder = download_movielens(tmp_path / "data", url=url)

    assert folder == tmp_path / "data" / "ml-latest-small"
    assert (folder / "ratings.csv").read_text().startswith("userId")
    source.unlink()  # a second call must not download again
    assert download_movielens(tmp_path / "data", url=url) == folder


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ({"../evil/ratings.csv": "x"}, "unsafe path"),
        ({"readme.txt": "x"}, "holds no MovieLens ratings"),
    ],
)
def test_bad_zips_are_refused(tmp_path: Path, members: dict[str, str], problem: str) -> None:
    source = make_zip(tmp_path / "ml-x.zip", members)

    with pytest.raises(Exception, match=problem):
        download_movielens(tmp_path / "data", url=source.as_uri())

    assert not (tmp_path / "evil").exists()


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "ml-x.zip"
    source.write_text("<html>503</html>")

    with pytest.raises(DownloadFailed, match="not a valid zip"):
        download_movielens(tmp_path / "data", url=source.as_uri())
