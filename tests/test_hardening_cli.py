"""Every numeric option of every command is checked as it is parsed: NaN, infinities, negative,
huge and empty values are one `error:` line naming the option (exit 2), never a traceback and
never a run with a value that makes silent wrong labels."""

from __future__ import annotations

import contextlib
import io
import sys
from types import UnionType
from typing import Union, get_args, get_origin, get_type_hints

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from edgehar.cli import app, run_command
from edgehar.ranges import Range

HOSTILE = ["nan", "NaN", "inf", "-inf", "-1", "-0.5", "0", "1e308", "-1e308", "1e-320", "",
           "99999999999999999999", "9" * 5000, "1e30", "abc"]


def is_number(command, name: str) -> bool:
    """Whether the parameter ``name`` of the function behind ``command`` is declared an int or a
    float (or either or None): read from its type hints, not from typer's internals."""
    function = getattr(command.callback, "__wrapped__", None)
    hint = function and get_type_hints(function).get(name)
    kinds = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    return {kind for kind in kinds if kind is not type(None)} in ({float}, {int})


def numeric_options() -> list[tuple[list[str], str, Range, bool]]:
    """(command path, option, its range, whether the command takes a positional argument)."""
    found = []

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
        takes_argument = any(p.param_type_name == "argument" for p in getattr(command, "params", []))
        for param in getattr(command, "params", []):
            if param.param_type_name == "option" and is_number(command, param.name):
                found.append((path, param.opts[0], getattr(param.callback, "range", None), takes_argument))

    walk(typer.main.get_command(app), [])
    return found


OPTIONS = numeric_options()


def run_cli(*args: str) -> tuple[int, str]:
    """Run `edgehar ARGS` in this process as its entry point does: (exit status, stderr)."""
    err, argv = io.StringIO(), sys.argv
    sys.argv = ["edgehar", *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            run_command()
        code = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        sys.argv = argv
    return code, err.getvalue()


def refused(value: str, allowed: Range) -> bool:
    """Whether ``allowed`` refuses the option value ``value`` (an integer option takes 1.0 as 1)."""
    try:
        number = float(value) if not allowed.integer or not value.strip().lstrip("+-").isdigit() \
            else int(value)
    except ValueError:
        return True
    if allowed.integer and isinstance(number, float):
        number = int(number) if number.is_integer() else number
    return number not in allowed


def test_every_numeric_option_of_every_command_has_a_range():
    assert len(OPTIONS) >= 30
    missing = [(" ".join(path), option) for path, option, allowed, _ in OPTIONS if allowed is None]
    assert missing == []


@settings(max_examples=150, deadline=None)
@given(case=st.sampled_from(OPTIONS),
       value=st.one_of(st.sampled_from(HOSTILE), st.floats().map(repr), st.integers().map(str)))
def test_an_out_of_range_value_of_any_option_is_one_error_line_naming_it(case, value):
    path, option, allowed, takes_argument = case
    if not refused(value, allowed):
        return
    code, err = run_cli(*path, f"{option}={value}", *(["models/dscnn9"] if takes_argument else []))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (path, option, value, err)
    assert option in lines[0] and "Traceback" not in err


@pytest.mark.parametrize(("args", "says"), [
    (["decoder", "models/dscnn9", "--emission-weight", "inf"], "--emission-weight inf"),
    (["decoder", "models/dscnn9", "--emission-weight", "1e308"], "--emission-weight 1e+308"),
    (["decoder", "models/dscnn9", "--emission-weight", "1e-320"], "--emission-weight 1e-320"),
    (["finetune", "models/dscnn9", "--learning-rate", "nan"], "--learning-rate nan"),
    (["finetune", "models/dscnn9", "--learning-rate", "1e30"], "--learning-rate 1e+30"),
    (["finetune", "models/dscnn9", "--distill", "nan"], "--distill nan"),
    (["finetune", "models/dscnn9", "--minutes", "nan"], "--minutes nan"),
    (["stream", "--mqtt-buffer", "-1"], "--mqtt-buffer -1"),
    (["serve", "--idle", "-1"], "--idle -1.0"),
    (["serve", "--idle", "nan"], "--idle nan"),
    (["serve", "--hop", "0"], "--hop 0"),
    (["serve", "--max-gap", "0"], "--max-gap 0.0"),
    (["serve", "--max-gap", "nan"], "--max-gap nan"),
])
def test_the_reported_values_are_refused_before_anything_runs(args, says):
    code, err = run_cli(*args)
    assert code == 2 and err.startswith(f"error: {says}:") and len(err.strip().splitlines()) == 1, err
