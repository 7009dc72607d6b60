"""The README's Python examples run as written and print what the README says they do."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)



def selective_ensemble(out: str) -> None:
    score, members_per_input = (float(v) for v in out.split())
    assert score >= 0.9, score                 # 4 plain members on the last 397 digits
    assert members_per_input == 2.0            # "runs 2 of 4"


def stacking_on_saved_predictions(out: str) -> None:
    assert out == "['no' 'yes' 'no' 'yes']"


def shipped_datasets(out: str) -> None:
    assert out == "(7494, 16) ['README.md', 'database', 'questions.jsonl']"


# what each example prints, found by a line of its code
CHECKS = {
    "SelectiveEnsemble(members": selective_ensemble,
    "print(Stacking().fit(table).predict(table))": stacking_on_saved_predictions,
    'load_dataset("pendigits")': shipped_datasets,
}


def check_for(block: str):
    found = [check for key, check in CHECKS.items() if key in block]
    assert len(found) == 1, f"no output check (or several) for README block:\n{block}"
    return found[0]


def test_every_example_has_its_output_checked():
    assert len(BLOCKS) >= 3
    for block in BLOCKS:
        check_for(block)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_and_prints_what_it_says(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})
    check_for(BLOCKS[index])(capsys.readouterr().out.strip())


COMMANDS = re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == COMMANDS[1]
    assert "python -m pytest -n 2 --durations=10" in ci and "torch==2.13.0" in ci


def test_set_up_commands_need_no_sibling_folder_and_install_the_report():
    main_job, tests = COMMANDS[0], COMMANDS[1]
    assert 'pip install -e ".[report]"' in main_job and main_job.endswith("ensel demo")
    for command in (main_job, tests):
        assert "shared" not in command and "ENSEL_DATASETS" not in command


def test_apt_is_quiet_needs_root_only_to_install_and_never_fails_the_command():
    tests = COMMANDS[1]
    chromium = tests[tests.index("(command -v chromium"):tests.index(" && pip install torch")]
    assert chromium.count("(") == chromium.count(")")
    assert "-qq" in chromium and "DEBIAN_FRONTEND=noninteractive" in chromium
    assert '>.venv/apt.log 2>&1' in chromium                   # apt's lines go to the log
    assert '[ "$(id -u)" != 0 ]' in chromium                   # not root: skip, no apt-get
    assert chromium.rstrip(")").endswith('the report\'s browser test will skip"')  # last: echo


def test_readme_cli_lines_run(capsys):
    """The ``ensel ...`` lines of the Data section, with ``$(ensel data path X)`` expanded."""
    import shlex

    from ensel.cli import main
    from ensel.datasets import dataset_path

    lines = [line.split("  #")[0].strip() for block in COMMANDS[2:] for line in block.splitlines()
             if line.startswith("ensel ")]
    assert len(lines) >= 2
    for line in lines:
        line = re.sub(r'"\$\(ensel data path (\S+)\)"', lambda m: str(dataset_path(m[1])), line)
        assert main(shlex.split(line)[1:]) == 0, line
    out = capsys.readouterr().out
    assert "Execution accuracy on 485 questions" in out and "oracle" in out


def _shim(folder, name, body):
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
@pytest.mark.parametrize("uid, apt_fails", [("1000", False), ("0", False), ("0", True)])
def test_chromium_step_runs_quietly(shell, uid, apt_fails, tmp_path):
    """The README's chromium step under fake id/apt-get: never fails, never floods the output."""
    import subprocess

    tests = COMMANDS[1]
    step = tests[tests.index("(command -v chromium"):tests.index(" && pip install torch")]
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (tmp_path / ".venv").mkdir()
    _shim(bin_, "id", f"echo {uid}")
    _shim(bin_, "tail", 'exec /usr/bin/tail "$@"')
    apt = 'i=0; while [ $i -lt 400 ]; do echo "apt line $i"; i=$((i+1)); done; '
    _shim(bin_, "apt-get", apt + ("exit 100" if apt_fails else "echo \"$@\" >> calls"))
    run = subprocess.run([shell, "-c", step], cwd=tmp_path, env={"PATH": str(bin_)},
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0 and run.stderr == ""
    lines = run.stdout.splitlines()
    if uid != "0":
        assert lines == [] and not (tmp_path / ".venv" / "apt.log").exists()
    elif apt_fails:
        assert len(lines) == 21 and lines[-1].startswith("chromium could not be installed")
    else:
        assert lines == [] and len((tmp_path / ".venv" / "apt.log").read_text().splitlines()) == 800
        assert (tmp_path / "calls").read_text().split("\n")[:2] == [
            "update -qq", "install -y -qq chromium"]
