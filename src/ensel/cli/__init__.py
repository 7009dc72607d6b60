"""The ``ensel`` command line. Sub-commands import their heavy parts only when they run."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

app = typer.Typer(
    name="ensel",
    help="Learn, per input, which members of a pool of models to trust, and combine only those.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """ensel: per-input model selection for ensembles."""


@app.command()
def version() -> None:
    """Print the ensel version."""
    from ensel import __version__

    typer.echo(__version__)


from ensel.cli.sql import sql_app  # noqa: E402

app.add_typer(sql_app, name="sql")

from ensel.cli.demo import demo  # noqa: E402

app.command()(demo)

from ensel.cli.benchmark import benchmark, report  # noqa: E402

app.command()(benchmark)
app.command()(report)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # without standalone mode click *returns* the code of typer.Exit(n) / ctx.exit(n)
        result = app(args=args, prog_name="ensel", standalone_mode=False)
    except SystemExit as exc:  # typer/click exit paths
        return int(exc.code or 0)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except Exception as exc:
        # usage errors (click's, or the copy typer vendors) carry their own exit code
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            return 1
        raise
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
