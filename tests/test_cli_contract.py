"""The CLI contract: every argument has help, a flag name means one thing everywhere, numeric options are
range-checked by the parser, exit codes come from the error classes (one table, the README's), deprecated
spellings still work with a warning, and the parser is light to build."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import flexaqa
from flexaqa import _args
from flexaqa._args import DeprecatedAlias
from flexaqa.cli import COMMANDS, build_parser, main
from flexaqa.errors import EXIT_CODES, FlexaqaError

README = Path(__file__).resolve().parents[1] / "README.md"


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(command path, action)`` for every argument of every (sub)command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield path, action


ALL = list(_walk(build_parser()))


def test_the_walk_sees_every_command():
    commands = {p[0] for p, _ in ALL if p}
    assert commands == set(COMMANDS) and len(ALL) > 200


def test_every_argument_has_help():
    missing = [
        f"{' '.join(p)} {'/'.join(a.option_strings) or a.dest}"
        for p, a in ALL
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert missing == []


# Flags whose signature (type, dest, choices) may differ between commands, and why. Anything else differing is
# a bug: one flag name, one meaning.
ALLOWED = {
    ("--view", "coach"): "the coach's camera angle (front/side/...), not one of FLEX's five cameras",
    ("--view", "vqa build"): "repeatable (append into `views`): several FLEX cameras",
    ("--view", "vqa export"): "repeatable (append into `views`): several FLEX cameras",
    ("--split", "vqa export"): "repeatable: export several splits",
    ("--split", "aqa predict"): "adds `all`: every sample of the run",
    ("--split", "predict"): "adds `all` (deprecated spelling of `aqa predict`)",
    ("--workers", "aqa train"): "DataLoader workers: 0 loads in the training process (PyTorch's convention)",
    ("--workers", "train"): "DataLoader workers (deprecated spelling of `aqa train`)",
    (
        "--video",
        "synth",
    ): "--video/--no-video: whether to render video; aqa's --video picks the video encoder",
    (
        "--pose",
        "coach",
    ): "a keypoint file or folder to coach (issue 18's spelling); aqa's --pose picks the pose encoder",
}


def _signature(a: argparse.Action):
    return getattr(a.type, "__name__", a.type), a.dest, tuple(a.choices) if a.choices else None


def test_a_flag_has_one_type_and_meaning_everywhere():
    by_flag = defaultdict(lambda: defaultdict(list))
    for p, a in ALL:
        if isinstance(a, DeprecatedAlias):
            continue
        for flag in a.option_strings:
            if (flag, " ".join(p)) not in ALLOWED:
                by_flag[flag][_signature(a)].append(" ".join(p))
    differing = {flag: dict(sigs) for flag, sigs in by_flag.items() if len(sigs) > 1}
    assert differing == {}
    for flag, command in ALLOWED:  # the exceptions still exist (else drop them from the table)
        assert any(flag in a.option_strings and " ".join(p) == command for p, a in ALL), (flag, command)


def test_numeric_options_are_range_checked():
    """Every int/float option goes through a range-checking type of flexaqa._args (no bare int/float)."""
    bare = [
        f"{' '.join(p)} {a.option_strings[0]}" for p, a in ALL if a.option_strings and a.type in (int, float)
    ]
    assert bare == ["vqa eval --score-range"]  # MIN MAX: any two numbers, MIN < MAX checked by the metric


def test_the_shared_option_families():
    for p, a in ALL:
        flag = a.option_strings[0] if a.option_strings else ""
        if isinstance(a, DeprecatedAlias):
            assert a.help.startswith("deprecated: use "), (p, flag)
        elif flag == "--device":
            assert tuple(a.choices) == ("auto", "cuda", "cpu"), p
        elif flag == "--size":
            assert a.type is _args.frame_size and a.metavar == "WxH", p
        elif flag == "--seed":
            assert a.type is _args.non_negative_int, p
        elif flag == "--protocol":
            assert a.metavar == "PROTOCOL" and a.dest == "protocol", p
        elif flag in ("--quiet", "--progress"):
            pytest.fail(
                f"{' '.join(p)} {flag}: progress is --no-progress (old spellings are deprecated aliases)"
            )


def test_constants_match_the_library():
    from flexaqa.data.schema import FLEX_VIEWS
    from flexaqa.data.splits import PROTOCOLS

    assert tuple(v.name for v in FLEX_VIEWS) == _args.VIEWS
    assert (*PROTOCOLS, "official") == _args.PROTOCOLS


def test_commands_table_names_the_module_of_each_command():
    for command, module in COMMANDS.items():
        parser = build_parser(command)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert command in sub.choices, (command, module)
        assert {c for c, m in COMMANDS.items() if m == module} == set(sub.choices), module


BAD = [  # (argv, the option the message names)
    (["synth", "--out", "x", "--workers", "0"], "--workers"),
    (["synth", "--out", "x", "--reps", "0"], "--reps"),
    (["synth", "--out", "x", "--subjects", "39"], "--subjects"),
    (["synth", "--out", "x", "--size", "0x96"], "--size"),
    (["synth", "--out", "x", "--size", "128"], "--size"),
    (["synth", "--out", "x", "--views", "View-9"], "--views"),
    (["synth", "--out", "x", "--actions", "squat,squat"], "--actions"),
    (["synth", "--out", "x", "--fps", "0"], "--fps"),
    (["synth", "--out", "x", "--seed", "-1"], "--seed"),
    (["coach", "v.mp4", "--action", "squat", "--stride", "0"], "--stride"),
    (["coach", "v.mp4", "--action", "squat", "--max-frames", "0"], "--max-frames"),
    (["emg", "bursts", "x.csv", "--fs", "1e9"], "--fs"),
    (["emg", "bursts", "x.csv", "--fs", "inf"], "--fs"),
    (["emg", "bursts", "x.csv", "--fs", "2000", "--window", "0"], "--window"),
    (["emg", "bursts", "x.csv", "--fs", "2000", "--window", "-1"], "--window"),
    (["emg", "process", "x.csv", "--fs", "2000", "--band", "-20", "450"], "--band"),
    (["failure", "train", "--data", "d", "--out", "o", "--alpha", "-1"], "--alpha"),
    (["failure", "train", "--data", "d", "--out", "o", "--alpha", "nan"], "--alpha"),
    (["failure", "train", "--data", "d", "--out", "o", "--drop", "inf"], "--drop"),
    (["failure", "train", "--data", "d", "--out", "o", "--reference", "best"], "--reference"),
    (["failure", "train", "--data", "d", "--out", "o", "--split", "tset"], "--split"),
    (["data", "validate", "d", "--tol", "-1"], "--tol"),
    (["data", "tiny", "o", "--reps", "0"], "--reps"),
    (["data", "tiny", "o", "--subject-ids", "P01,P01"], "--subject-ids"),
    (["data", "export-release", "d", "o", "--views", "View-9"], "--views"),
    (["data", "export-release", "d", "o", "--short-side", "0"], "--short-side"),
    (["aqa", "predict", "--run", "r", "--threshold", "2"], "--threshold"),
    (["aqa", "predict", "--run", "r", "--threshold", "-0.1"], "--threshold"),
    (["aqa", "train", "--data", "d", "--out", "o", "--epochs", "0"], "--epochs"),
    (["aqa", "train", "--data", "d", "--out", "o", "--workers", "-1"], "--workers"),
    (["aqa", "train", "--data", "d", "--out", "o", "--frames", "0"], "--frames"),
    (["aqa", "train", "--data", "d", "--out", "o", "--views", "View-1,View-9"], "--views"),
    (["aqa", "train", "--data", "d", "--out", "o", "--device", "gpu"], "--device"),
    (["aqa", "train", "--data", "d", "--out", "o", "--clip-grad", "-1"], "--clip-grad"),
    (["aqa", "eval", "--run", "r", "--split", "validation"], "--split"),
    (["bench", "aqa", "--data", "d", "--seeds", "0,0"], "--seeds"),
    (["bench", "aqa", "--data", "d", "--seeds", "a"], "--seeds"),
    (["video2emg", "train", "--data", "d", "--out", "o", "--device", "gpu"], "--device"),
    (["video2emg", "train", "--data", "d", "--out", "o", "--size", "64"], "--size"),
    (["video2emg", "train", "--data", "d", "--out", "o", "--window", "0"], "--window"),
    (["video2emg", "train", "--data", "d", "--out", "o", "--view", "View-9"], "--view"),
    (["video2emg", "eval", "--data", "d", "--checkpoint", "c", "--out", "o", "--limit", "0"], "--limit"),
    (["vqa", "answer", "--refs", "q", "--out", "o", "--endpoint", "e", "--workers", "0"], "--workers"),
    (["vqa", "export", "--qa", "q", "--out", "o", "--max-frames", "0"], "--max-frames"),
    (["vqa", "synth", "--out", "o", "--samples", "0"], "--samples"),
]


@pytest.mark.parametrize(("argv", "option"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_are_refused_by_the_parser(argv, option, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, wherever the command would write
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"argument {option}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_name_is_checked_with_a_suggestion(capsys):
    with pytest.raises(SystemExit):
        main(["synth", "--out", "x", "--views", "View-1,Veiw-2"])
    assert "unknown view 'Veiw-2' (did you mean 'View-2'?)" in capsys.readouterr().err


DEPRECATED = [  # (old argv, new argv, the deprecated spelling named on stderr)
    (
        ["train", "--data", "d", "--out", "o"],
        ["aqa", "train", "--data", "d", "--out", "o"],
        "`flexaqa train`",
    ),
    (["eval", "--run", "r"], ["aqa", "eval", "--run", "r"], "`flexaqa eval`"),
    (["predict", "--run", "r", "s1"], ["aqa", "predict", "--run", "r", "s1"], "`flexaqa predict`"),
    (
        ["aqa", "train", "--data", "d", "--out", "o", "--split", "random"],
        ["aqa", "train", "--data", "d", "--out", "o", "--protocol", "random"],
        "--split",
    ),
    (
        ["bench", "aqa", "--data", "d", "--split", "random"],
        ["bench", "aqa", "--data", "d", "--protocol", "random"],
        "--split",
    ),
    (
        ["aqa", "train", "--data", "d", "--out", "o", "--quiet"],
        ["aqa", "train", "--data", "d", "--out", "o", "--no-progress"],
        "--quiet",
    ),
    (["aqa", "eval", "--run", "r", "--quiet"], ["aqa", "eval", "--run", "r", "--no-progress"], "--quiet"),
    (["synth", "--out", "o", "--quiet"], ["synth", "--out", "o", "--no-progress"], "--quiet"),
    (
        ["aqa", "train", "--data", "d", "--out", "o", "--size", "96"],
        ["aqa", "train", "--data", "d", "--out", "o", "--short-side", "96"],
        "--size",
    ),
    (
        ["data", "export-release", "d", "o", "--size", "96"],
        ["data", "export-release", "d", "o", "--short-side", "96"],
        "--size",
    ),
    (
        ["data", "tiny", "o", "--subjects", "P01,N01"],
        ["data", "tiny", "o", "--subject-ids", "P01,N01"],
        "--subjects",
    ),
    (
        ["video2emg", "eval", "--data", "d", "--checkpoint", "c", "--out", "o", "--plot", "2"],
        ["video2emg", "eval", "--data", "d", "--checkpoint", "c", "--out", "o", "--plot-samples", "2"],
        "--plot",
    ),
    (["data", "validate", "d", "--progress"], ["data", "validate", "d"], "--progress"),
]


@pytest.mark.parametrize(("old", "new", "named"), DEPRECATED, ids=[" ".join(o) for o, _, _ in DEPRECATED])
def test_deprecated_spellings_parse_like_the_new_ones_and_say_so(old, new, named, capsys):
    def parsed(argv):
        ns = vars(build_parser(argv[0]).parse_args(argv))
        ns.pop("deprecated_command", None)
        for key in ("command", "aqa_command"):  # `train` vs `aqa train`: the handler is the same
            ns.pop(key, None)
        return ns

    assert parsed(old) == parsed(new)
    capsys.readouterr()
    old_ns = build_parser(old[0]).parse_args(old)
    err = capsys.readouterr().err
    if named.startswith("`"):  # a deprecated command: cli.main says so before running it
        assert old_ns.deprecated_command == "flexaqa aqa " + old[0]
    else:
        assert f"flexaqa: warning: {named} is deprecated" in err and "next release" in err
    capsys.readouterr()
    build_parser(new[0]).parse_args(new)
    assert "deprecated" not in capsys.readouterr().err


def test_a_deprecated_command_runs_with_one_warning_line(tmp_path, capsys):
    assert main(["eval", "--run", str(tmp_path)]) == 2  # not a run: the handler ran
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "flexaqa: warning: `flexaqa eval` is deprecated and will be removed in the next release; use "
        "`flexaqa aqa eval`"
    )
    assert "not a flexaqa AQA run" in err[1]


def _error_classes():
    for info in pkgutil.walk_packages(flexaqa.__path__, "flexaqa."):
        if info.name.endswith("._cli") or ".__main__" in info.name:
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra is not installed
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FlexaqaError):
                yield cls


def test_every_error_class_has_a_documented_exit_code():
    classes = set(_error_classes())
    assert len(classes) > 25
    undocumented = {c.__qualname__: c.exit_code for c in classes if c.exit_code not in EXIT_CODES}
    assert undocumented == {}
    by_code = defaultdict(set)
    for c in classes:
        by_code[c.exit_code].add(c.__name__)
    assert {"DataError", "CheckpointError", "SignalError", "CorruptSampleError"} <= by_code[3]
    assert {"MissingDatasetError", "MissingCheckpointError", "MissingVideoError"} <= by_code[9]
    assert {"KGError", "ModelError", "UsageError"} <= by_code[2]
    assert {"MissingExtraError", "WordNetMissingError", "MissingPieceError"} <= by_code[8]


def test_the_readme_table_is_the_exit_code_table():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Exit codes") :]
    section = section[: section.index("\n## ", 4)]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.M))
    assert {int(k): v for k, v in rows.items()} == EXIT_CODES


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["data", "info", "{tmp}/nope"], 9, "no such dataset folder"),
        (["score", "A01", "ET999"], 2, "ET999"),
        (["kg", "--file", "{tmp}/missing.yaml", "list"], 9, "file not found"),
        (["emg", "bursts", "{tmp}/bad.csv", "--fs", "2000"], 3, "not numeric"),
        (["emg", "bursts", "{tmp}/missing.csv", "--fs", "2000"], 9, "no such file"),
        (["aqa", "eval", "--run", "{tmp}"], 2, "not a flexaqa AQA run"),
    ],
)
def test_errors_exit_with_their_class_code(argv, code, message, tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    assert main([a.format(tmp=tmp_path) for a in argv]) == code
    err = capsys.readouterr().err
    assert err.startswith("flexaqa: error:") and message in err and "Traceback" not in err


def test_os_errors_and_ctrl_c_exit_with_their_codes(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("")
    # an output under a file is refused before any work (73); an OSError during the work exits 74
    assert main(["kg", "export", "--format", "json", "--out", str(tmp_path / "file" / "kg.json")]) == 73
    err = capsys.readouterr().err
    assert err.startswith("flexaqa: error:") and str(tmp_path / "file") in err and "Traceback" not in err

    from flexaqa.kg import _cli

    def denied(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "kg.json"))

    monkeypatch.setattr(_cli, "cmd_list", denied)
    assert main(["kg", "list"]) == 74
    err = capsys.readouterr().err
    assert err.startswith("flexaqa: error:") and str(tmp_path / "kg.json") in err and err.count("\n") == 1

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "cmd_list", interrupted)
    assert main(["kg", "list"]) == 130
    assert capsys.readouterr().err == "flexaqa: interrupted\n"


HEAVY = (
    "scipy",
    "torch",
    "matplotlib",
    "av",
    "mediapipe",
    "pandas",
    "sqlalchemy",
    "ray",
    "fastapi",
    "cv2",
    "sklearn",
)


def test_building_the_whole_parser_imports_nothing_heavy():
    """Every command's options, without running one (kg/score commands: tests/test_kg_cli.py)."""
    code = (
        "import sys\nfrom flexaqa.cli import build_parser\nbuild_parser()\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_names_are_checked_against_the_dataset(tmp_path, capsys):
    """`--views` must name views the dataset has; `--seed N` never silently keeps a split made with another
    seed (issue 17: both used to report success)."""
    root = tmp_path / "d"
    assert main(["data", "tiny", str(root), "--subject-ids", "P01,N01", "--reps", "2"]) == 0
    from flexaqa.data import open_dataset

    views = ", ".join(open_dataset(root).view_names)
    assert "View-3" not in views
    assert main(["data", "export-release", str(root), str(tmp_path / "rel"), "--views", "View-1,View-3"]) == 2
    err = capsys.readouterr().err
    assert f"--views View-3: {root} has no such view (it has {views})" in err
    assert not (tmp_path / "rel").exists()

    assert main(["data", "splits", str(root), "--protocol", "random"]) == 0  # saved with seed 0
    saved = (root / "splits" / "random.json").read_text()
    capsys.readouterr()
    assert (
        main(["data", "splits", str(root), "--protocol", "random", "--seed", "0"]) == 0
    )  # the same seed: fine
    assert main(["data", "splits", str(root), "--protocol", "random", "--seed", "1"]) == 2
    assert "made with seed 0; --seed 1 regenerates it only with --force" in capsys.readouterr().err
    assert (root / "splits" / "random.json").read_text() == saved
    assert main(["data", "splits", str(root), "--protocol", "random", "--seed", "1", "--force"]) == 0
    assert json.loads((root / "splits" / "random.json").read_text())["seed"] == 1
