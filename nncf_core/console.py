"""The local console: the bot's slash commands in a terminal, over the same services.

``/rate "Toy Story" 4.5``, ``/ratings``, ``/recommend`` ... Each command is a
function registered with :func:`command`; it gets the parsed arguments and
returns the text to show. Domain errors become one-line answers.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nncf_core.app import Core
from nncf_core.errors import InvalidInput, NNCFError
from nncf_core.services.users import UserKey

log = logging.getLogger(__name__)

Handler = Callable[["Console", list[str]], str]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    handler: Handler


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, help: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, usage, help, handler)
        return handler

    return register


class Console:
    def __init__(self, core: Core, user: UserKey) -> None:
        self.core = core
        self.user = user
        self.source = "console"

    def execute(self, line: str) -> str:
        """Run one command line and return what to print."""
        text = line.strip()
        if not text:
            return ""
        try:
            parts = shlex.split(text)
        except ValueError as error:
            return f"Could not parse that line: {error}."
        name = parts[0] if parts[0].startswith("/") else "/" + parts[0]
        spec = COMMANDS.get(name.lower())
        if spec is None:
            return f"Unknown command {name!r}. Type /help for the list."
        try:
            return spec.handler(self, parts[1:])
        except NNCFError as error:
            return str(error)

    def run(self, lines: Iterable[str], write: Callable[[str], None]) -> None:
        for line in lines:
            if line.strip() in {"/quit", "/exit", "quit", "exit"}:
                return
            output = self.execute(line)
            if output:
                write(output)


def _expect(args: list[str], usage: str, low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise InvalidInput(f"Usage: {usage}")


@command("/help", "/help", "List the commands.")
def _help(console: Console, args: list[str]) -> str:
    width = max(len(c.usage) for c in COMMANDS.values())
    lines = [f"{c.usage.ljust(width)}  {c.help}" for c in COMMANDS.values()]
    return "\n".join([*lines, "/quit".ljust(width) + "  Leave the console."])


@command("/rate", '/rate "TITLE or ID" STARS', "Rate a movie from 0.5 to 5.0 stars.")
def _rate(console: Console, args: list[str]) -> str:
    usage = '/rate "TITLE or ID" STARS'
    if len(args) > 2:
        # Let people type titles without quotes: everything but the last word.
        args = [" ".join(args[:-1]), args[-1]]
    _expect(args, usage, 2, 2)
    result = console.core.ratings.rate(console.user, args[0], args[1], console.source)
    return describe_rating(result.movie.label, result.stars, result.previous)


def describe_rating(label: str, stars: float, previous: float | None) -> str:
    if previous is None:
        return f"Rated {label}: {stars:g} stars."
    if previous == stars:
        return f"{label} was already rated {stars:g} stars."
    return f"Rated {label}: {stars:g} stars (was {previous:g})."


@command("/unrate", '/unrate "TITLE or ID"', "Remove one of your ratings.")
def _unrate(console: Console, args: list[str]) -> str:
    if not args:
        raise InvalidInput('Usage: /unrate "TITLE or ID"')
    result = console.core.ratings.unrate(console.user, " ".join(args))
    return f"Removed your {result.stars:g}-star rating of {result.movie.label}."


@command("/ratings", "/ratings [PAGE]", "Your ratings, newest first.")
def _ratings(console: Console, args: list[str]) -> str:
    _expect(args, "/ratings [PAGE]", 0, 1)
    page_number = 1
    if args:
        if not args[0].isdigit():
            raise InvalidInput("The page must be a whole number.")
        page_number = int(args[0])
    page = console.core.ratings.list_ratings(console.user, page_number, per_page=10)
    if page.total == 0:
        return 'You have not rated anything yet. Try /rate "Toy Story" 4.5.'
    lines = [f"Your ratings ({page.total}), page {page.page} of {page.pages}:"]
    for r in page.items:
        year = f" ({r.year})" if r.year else ""
        lines.append(f"  {r.stars:>3g}  {r.title}{year}")
    return "\n".join(lines)


@command("/movie", '/movie "TITLE or ID"', "Details of a movie, its average and your rating.")
def _movie(console: Console, args: list[str]) -> str:
    if not args:
        raise InvalidInput('Usage: /movie "TITLE or ID"')
    info = console.core.ratings.details(" ".join(args), console.user)
    lines = [info.movie.label, "  " + (", ".join(info.genres) or "no genres listed")]
    if info.count:
        lines.append(f"  community: {info.average:.2f} stars from {info.count} ratings")
    else:
        lines.append("  nobody has rated it yet")
    if info.your_stars is not None:
        lines.append(f"  you: {info.your_stars:g} stars")
    return "\n".join(lines)


@command("/search", "/search TEXT", "Find movies by title.")
def _search(console: Console, args: list[str]) -> str:
    if not args:
        raise InvalidInput("Usage: /search TEXT")
    hits = console.core.catalog.search(" ".join(args), limit=10)
    if not hits:
        return "No movie title contains that."
    return "\n".join(f"  {m.id:>7}  {m.label}" for m in hits)


@command("/recommend", "/recommend [COUNT] [GENRE]", "Movies you may like, best first.")
def _recommend(console: Console, args: list[str]) -> str:
    from nncf_core.recommend.base import Filters
    from nncf_core.recommend.format import describe_recommendations

    count = 10
    if args and args[0].isdigit():
        count = int(args[0])
        args = args[1:]
    filters = Filters(genres=(" ".join(args),)) if args else Filters()
    result = console.core.recommender.recommend(console.user, count, filters)
    return describe_recommendations(result, "Recommended for you:")


@command("/similar", '/similar "TITLE or ID"', "Movies the model finds most alike.")
def _similar(console: Console, args: list[str]) -> str:
    from nncf_core.recommend.format import describe_similar

    if not args:
        raise InvalidInput('Usage: /similar "TITLE or ID"')
    movie = console.core.catalog.resolve(" ".join(args))
    return describe_similar(movie, console.core.recommender.similar(movie.id, 10))


@command("/hide", '/hide "TITLE or ID"', "Never recommend this movie to you.")
def _hide(console: Console, args: list[str]) -> str:
    if not args:
        raise InvalidInput('Usage: /hide "TITLE or ID"')
    movie = console.core.ratings.flag(console.user, " ".join(args), "not_interested")
    return f"{movie.label} will not be recommended to you again."


@command("/export", "/export", "Your ratings as CSV.")
def _export(console: Console, args: list[str]) -> str:
    return console.core.ratings.export_csv(console.user).rstrip("\n")


@command("/forget-me", "/forget-me yes", "Delete all your ratings (asks for 'yes').")
def _forget(console: Console, args: list[str]) -> str:
    if args != ["yes"]:
        return "This deletes all your ratings for good. Type `/forget-me yes` to confirm."
    count = console.core.ratings.forget(console.user)
    return f"Deleted {count} ratings and your profile."
