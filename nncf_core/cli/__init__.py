"""The ``nncf-bot`` command line."""

from __future__ import annotations

import sys

import typer

from nncf_core.errors import NNCFError

app = typer.Typer(
    name="nncf-bot",
    help="Rate movies and get recommendations from a neural collaborative-filtering model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each module adds its own commands; import order is the order in --help.
    from nncf_core.cli import bot, data, db, ratings, recommend, setup, training, worker

    for module in (setup, bot, db, data, ratings, training, recommend, worker):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: domain errors become a one-line reason and exit code 1.

    Typer handles usage errors itself (exit code 2) and exits 0 on success.
    """
    try:
        app(args=argv, prog_name="nncf-bot")
    except NNCFError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
