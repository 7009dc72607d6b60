"""The ``ensel`` command line. Sub-commands import their heavy parts only when they run."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup


class _PlainHelp:
    """Help screens without typer's type tag on flags (``--help <bool>``) and with required
    arguments in capitals (``RESULTS``, not ``{results}``) on the usage line."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1].upper() if p.startswith("{") and p.endswith("}") else p
                for p in pieces]


class _Command(_PlainHelp, TyperCommand):
    """A command with plain help screens."""


class _Group(_PlainHelp, TyperGroup):
    """A group (``ensel``, ``ensel sql``, ``ensel data``) with plain help screens."""


def _plain_help(typer_app: typer.Typer) -> None:
    """Give every command and sub-group of ``typer_app`` the plain help screens."""
    typer_app.info.cls = _Group
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = _Command
    for group in typer_app.registered_groups:
        _plain_help(group.typer_instance)


app = typer.Typer(
    name="ensel",
    help="Learn, per input, which members of a pool of models to trust, and combine only those.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from ensel import __version__

        typer.echo(f"ensel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print the ensel version and exit.")] = False,
) -> None:
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

from ensel.cli.data import data_app  # noqa: E402

app.add_typer(data_app, name="data")

from ensel.cli.route import route_app  # noqa: E402

app.add_typer(route_app, name="route")
_plain_help(app)


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
    except (ValueError, OSError) as exc:       # bad input, or a path that cannot be used
        typer.echo("error: " + " ".join(str(exc).split()), err=True)   # always one line
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
