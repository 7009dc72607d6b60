"""``ensel data``: where the built-in datasets are (shipped in the package, or ENSEL_DATASETS)."""

from __future__ import annotations

from typing import Annotated

import typer

data_app = typer.Typer(
    name="data",
    help="Where the built-in datasets are: the package's own copies, or $ENSEL_DATASETS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@data_app.command()
def path(
    name: Annotated[str | None, typer.Argument(
        metavar="NAME",
        help="A file or folder, e.g. letter.csv.gz, spider_dev_public, "
             "spider_dev_public/questions.jsonl. Without it: the folders searched, in order.")
    ] = None,
) -> None:
    """Print the path of a built-in dataset (or the folders searched for them)."""
    from ensel.datasets import data_dirs, dataset_path

    if name is None:
        for folder in data_dirs():
            typer.echo(folder)
        return
    typer.echo(dataset_path(name))
