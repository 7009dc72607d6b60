"""The CLI's main(argv) returns exit codes instead of exiting."""

import typer

from ensel.cli import app, main


def test_version_and_help():
    assert main(["version"]) == 0
    assert main(["--help"]) == 0


def test_unknown_command_is_a_usage_error():
    assert main(["no-such-command"]) == 2


def test_exit_codes_of_commands_are_returned():
    @app.command("_exit-three", hidden=True)
    def _exit_three() -> None:
        raise typer.Exit(3)

    try:
        assert main(["_exit-three"]) == 3
    finally:
        app.registered_commands.pop()


def test_demo_runs_and_prints_the_table(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for row in ("best member", "average", "stacking", "e2e-CEL (k=3)", "gap closed"):
        assert row in out
