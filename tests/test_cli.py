"""The CLI's main(argv) returns exit codes instead of exiting."""

import pytest
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
    assert main(["demo", "--k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 100          # captured, not a terminal: 100 columns
    rows = {line.split("│")[1].strip(): line for line in lines if line.count("│") == 8}
    assert list(rows) == ["best member", "average", "stacking", "e2e-CEL (k=2)",
                          "cascade (budget 0.5)"]
    cells = [c.strip() for c in rows["e2e-CEL (k=2)"].split("│")[2:-1]]
    accuracy, oracle, gap, per_input = float(cells[0]), float(cells[2]), float(cells[3]), cells[4]
    assert 0.5 < accuracy <= oracle <= 1 and gap <= 1 and per_input == "2.0"
    for word in ("oracle:", "gap closed:", "best single:", "members/input:", "budget:"):
        assert sum(line.startswith(word) for line in lines) == 1     # one line each
    cascade = [c.strip() for c in rows["cascade (budget 0.5)"].split("│")[2:-1]]
    budget = next(line for line in lines if line.startswith("budget:"))
    assert float(cascade[4]) <= 5.0 + 0.2                # mean members run meets the budget
    assert f"at {float(cascade[4]) / 10:.0%} of the cost" in budget


def test_version_flag_prints_the_package_version(capsys):
    from ensel import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ensel {__version__}\n"
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


@pytest.mark.parametrize("command", [[], ["demo"], ["benchmark"], ["report"], ["data", "path"],
                                     ["sql"], ["sql", "evaluate"], ["sql", "train"]])
def test_help_screens_have_plain_metavars(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: ensel" in out and "Show this message and exit." in out
    usage = next(line for line in out.splitlines() if "Usage: ensel" in line)
    assert "<bool>" not in out and "{" not in usage


def test_required_argument_is_in_capitals_on_the_usage_line(capsys):
    assert main(["report", "--help"]) == 0
    assert "Usage: ensel report [OPTIONS] RESULTS" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--k", "-2"], "Invalid value for '--k': must be an int in [1, 10]. Got -2 instead."),
    (["--k", "11"], "Invalid value for '--k': must be an int in [1, 10]. Got 11 instead."),
    (["--seed", "-1"], "Invalid value for '--seed': must be an int >= 0. Got -1 instead."),
])
def test_demo_checks_its_options_before_any_work(args, message, capsys, monkeypatch):
    import ensel.protocol

    def no_work(*args, **kwargs):
        raise AssertionError("the demo started working before checking its options")

    monkeypatch.setattr(ensel.protocol, "split_protocol", no_work)
    assert main(["demo", *args]) == 2
    assert message in capsys.readouterr().err


def test_data_path(capsys, monkeypatch, tmp_path):
    from ensel.datasets import dataset_path

    monkeypatch.delenv("ENSEL_DATASETS", raising=False)
    assert main(["data", "path", "spider_dev_public"]) == 0
    assert capsys.readouterr().out.strip() == str(dataset_path("spider_dev_public"))
    monkeypatch.setenv("ENSEL_DATASETS", str(tmp_path))
    assert main(["data", "path"]) == 0
    folders = capsys.readouterr().out.splitlines()
    assert folders[0] == str(tmp_path) and folders[1].endswith("data") and len(folders) == 2
    assert main(["data", "path", "nope.csv.gz"]) == 2
    assert "The dataset 'nope.csv.gz' was not found" in capsys.readouterr().err
