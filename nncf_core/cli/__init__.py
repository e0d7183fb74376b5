"""The ``nncf-bot`` command line."""

from __future__ import annotations

import sys

import click
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
    from nncf_core.cli import data, db, ratings, setup

    for module in (setup, db, data, ratings):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: domain errors become a one-line reason and exit code 1."""
    try:
        app(args=argv, standalone_mode=False)
    except NNCFError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
