"""`nncf-bot recommend`, `nncf-bot similar`, and the console's /recommend, /similar, /hide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nncf_core.cli import main as cli_main
from nncf_core.console import Console
from nncf_core.recommend.format import COLD_START_HINT
from nncf_core.services.users import UserKey
from tests.nncf_core.recommend.conftest import Planted
from tests.nncf_core.recommend.data import movie_genre


def main(argv: list[str]) -> int:
    """The exit code of one ``nncf-bot`` run (Typer exits through SystemExit)."""
    try:
        return cli_main(argv)
    except SystemExit as done:
        return int(done.code or 0)


@pytest.fixture
def cli_env(planted: Planted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Planted:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # away from a developer's .env
    monkeypatch.setenv("DATABASE_URL", planted.db.url)
    monkeypatch.setenv("MODEL_DIR", str(planted.model_dir))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return planted


def test_recommend_json(cli_env: Planted, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["recommend", "--user", "movielens:1", "--n", "3", "--min-ratings", "0", "--json"])
    assert code == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 3
    assert set(items[0]) == {"movie_id", "title", "year", "predicted_stars", "because"}
    assert all(movie_genre(i["movie_id"]) == "Sci-Fi" for i in items)
    assert all(i["because"] is None or "Sci-Fi" in i["because"] for i in items)
    rated = cli_env.core.ratings.user_ratings(UserKey.parse("movielens:1"))
    assert not {i["movie_id"] for i in items} & set(rated)


def test_recommend_filters_and_text(cli_env: Planted, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recommend", "--user", "movielens:1", "--genre", "Comedy", "--genre", "romance"]
    assert main([*args, "--year-from", "1985", "--year-to", "2000", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert items and all(movie_genre(i["movie_id"]) in {"Comedy", "Romance"} for i in items)
    assert all(1985 <= i["year"] <= 2000 for i in items)
    assert main(["recommend", "--user", "movielens:1", "--n", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Recommended for movielens:1:") and " 2. " in text and "★" in text
    assert main(["recommend", "--user", "movielens:1", "--genre", "Western"]) == 1
    assert "Unknown genre" in capsys.readouterr().err


def test_recommend_batch(
    cli_env: Planted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("movielens:1\nmovielens:2\n\nnewcomer\nmovielens:3\n")
    assert main(["recommend", "--users-file", str(users), "--n", "3", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["user"] for line in lines] == [
        "movielens:1",
        "movielens:2",
        "console:newcomer",
        "movielens:3",
    ]
    loved = {"movielens:1": "Sci-Fi", "movielens:2": "Romance", "movielens:3": "Comedy"}
    for line in lines:
        assert len(line["recommendations"]) == 3
        if line["user"] in loved:
            genres = {movie_genre(r["movie_id"]) for r in line["recommendations"]}
            assert genres == {loved[line["user"]]}
    users.write_text("movielens:1\nmovielens:9999\n")
    assert main(["recommend", "--users-file", str(users), "--json"]) == 1
    assert "movielens:9999" in capsys.readouterr().err
    assert main(["recommend", "--n", "3"]) == 1


def test_similar_command(cli_env: Planted, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similar", "Romance Movie 20", "--n", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found) == 3 and all(movie_genre(m["movie_id"]) == "Romance" for m in found)
    assert 20 not in [m["movie_id"] for m in found]
    assert main(["similar", "3"]) == 0
    assert capsys.readouterr().out.startswith("Movies like Sci-Fi Movie 3 (1983):")


def test_console_commands(planted: Planted) -> None:
    console = Console(planted.core, UserKey.parse("dora"))
    cold = console.execute("/recommend 3")
    assert cold.startswith(COLD_START_HINT)
    for movie_id in (1, 2, 4, 5):
        console.execute(f"/rate {movie_id} 5")
    picks = console.execute("/recommend 3 scifi")
    assert picks.startswith("Recommended for you:") and "because you liked Sci-Fi Movie" in picks
    top_title = picks.splitlines()[1].split(". ", 1)[1].split(" (")[0]
    assert console.execute(f'/hide "{top_title}"').endswith("will not be recommended to you again.")
    assert top_title not in console.execute("/recommend 3 scifi")
    assert "Romance Movie" in console.execute("/similar Romance Movie 20")
    assert "Unknown genre" in console.execute("/recommend Western")
    assert "Usage" in console.execute("/similar")
