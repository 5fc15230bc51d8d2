"""`flexaqa emg process` and `flexaqa emg bursts` on CSV/NPY/NPZ recordings, and every error path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from flexaqa.cli import main
from flexaqa.signal import make_emg, read_recording


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def rec():
    return make_emg(n_channels=3, duration=8.0, n_bursts=3, drift=1.0, hum=0.3, spikes=2, seed=7)


def write_csv(path, x, header=True):
    lines = [",".join(f"ch{k}" for k in range(x.shape[1]))] if header else []
    lines += [",".join(f"{v:.6f}" for v in row) for row in x]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["csv", "csv-noheader", "npy", "npz"])
def test_read_recording_formats(tmp_path, rec, fmt):
    x = rec.emg[:500]
    if fmt.startswith("csv"):
        p = write_csv(tmp_path / "r.csv", x, header=fmt == "csv")
    elif fmt == "npy":
        p = tmp_path / "r.npy"
        np.save(p, x)
    else:
        p = tmp_path / "r.npz"
        np.savez(p, emg=x)
    np.testing.assert_allclose(read_recording(p), x, atol=1e-6)


def test_bursts_json_reports_known_onsets(tmp_path, rec, capsys):
    p = write_csv(tmp_path / "EMG.csv", rec.emg)
    code, out, _ = run(capsys, "emg", "bursts", p, "--fs", rec.fs, "--json")
    assert code == 0
    d = json.loads(out)
    assert d["count"] == 9  # 3 bursts x 3 channels
    on = sorted(b["onset_s"] for b in d["bursts"] if b["channel"] == 1)
    np.testing.assert_allclose(on, rec.onsets / rec.fs, atol=0.075)
    assert all(b["median_frequency_hz"] > 20 for b in d["bursts"])
    assert [f["channel"] for f in d["fatigue"]] == [0, 1, 2] and d["fatigue"][0]["n_bursts"] == 3
    code, out, _ = run(capsys, "emg", "bursts", p, "--fs", rec.fs, "--channel", 2, "--json")
    d = json.loads(out)
    assert d["count"] == 3 and {b["channel"] for b in d["bursts"]} == {2}
    code, out, _ = run(capsys, "emg", "bursts", p, "--fs", rec.fs)
    assert code == 0 and "9 burst(s)" in out and "fatigue" in out and "Hz/burst" in out


def test_process_writes_outputs_and_plot(tmp_path, rec, capsys):
    p = tmp_path / "r.npy"
    np.save(p, rec.emg)
    csv_out, npz_out, png = tmp_path / "env.csv", tmp_path / "env.npz", tmp_path / "plot.png"
    code, out, _ = run(capsys, "emg", "process", p, "--fs", rec.fs, "--out", csv_out, "--plot", png)
    assert code == 0 and "3 channel(s)" in out
    table = np.loadtxt(csv_out, delimiter=",", skiprows=1)
    assert table.shape == (len(rec.emg), 1 + 2 * 3)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run(capsys, "emg", "process", p, "--fs", rec.fs, "--out", npz_out, "--envelope", "linear")
    with np.load(npz_out) as z:
        assert z["envelope"].shape == rec.emg.shape and float(z["fs"]) == rec.fs


def test_errors_are_clear(tmp_path, rec, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    text = tmp_path / "text.csv"
    text.write_text("a,b\n1,2\n3,oops\n")
    nan = tmp_path / "nan.csv"
    nan.write_text("1,2\n3,nan\n5,6\n")
    good = write_csv(tmp_path / "good.csv", rec.emg[:4000])
    cases = [  # (argv, exit code: 3 bad content, 9 missing file, 2 bad option; message)
        ((empty, "--fs", 2000), 3, "empty"),
        ((text, "--fs", 2000), 3, "column 1 ('b') is not numeric: 'oops' at row 3"),
        ((nan, "--fs", 2000), 3, "NaN"),
        ((tmp_path / "missing.csv", "--fs", 2000), 9, "no such file"),
        ((good, "--fs", 500), 2, "too low"),
        ((tmp_path / "missing.csv", "--fs", 500), 2, "too low"),  # options are checked before the file
        ((good, "--fs", 2000, "--channel", 3), 2, "--channel 3 does not exist: "),
    ]
    for argv, expected, message in cases:
        code, _, err = run(capsys, "emg", "bursts", *argv)
        assert code == expected and message in err and err.startswith("flexaqa: error:"), (argv, err)
    parser_cases = [  # refused by the parser (exit 2), the message names the option
        (("--fs", -5), "argument --fs: must be a number in (0, 1e+06]"),
        (("--fs", "1e9"), "argument --fs"),
        (("--fs", "nan"), "argument --fs"),
        (("--fs", 2000, "--quiet-percent", 0), "argument --quiet-percent: must be a number in (0, 100)"),
        (("--fs", 2000, "--min-fraction", 1), "argument --min-fraction"),
        (("--fs", 2000, "--window", 0), "argument --window"),
        (("--fs", 2000, "--window", -1), "argument --window"),
        (("--fs", 2000, "--channel", -1), "argument --channel: must be an integer >= 0"),
        (("--fs", 2000, "--mains", -50), "argument --mains"),
    ]
    for argv, message in parser_cases:
        with pytest.raises(SystemExit) as info:
            run(capsys, "emg", "bursts", good, *argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err, (argv, err)
    bad_ext = tmp_path / "x.wav"
    bad_ext.write_text("1")
    code, _, err = run(capsys, "emg", "process", bad_ext, "--fs", 2000)
    assert code == 3 and "unknown format" in err


def test_cli_import_stays_light():
    code = (
        "import sys, flexaqa.signal._cli, flexaqa.signal; "
        "print(sorted(m for m in sys.modules if m.startswith('flexaqa.signal.')), 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['flexaqa.signal._cli'] False"


def test_bursts_of_a_continuous_set_with_tonic_activity(tmp_path, capsys):
    # The simulator's squat sEMG never relaxes to the noise floor between repetitions: the default floor estimate
    # (30 % at rest) merges the set into one activation; the documented flags separate the repetitions.
    from flexaqa.testing import synth_trial

    trial, _ = synth_trial("squat", reps=5, seed=3)
    path = tmp_path / "emg.npy"
    np.save(path, trial.emg.data)
    code, out, _ = run(capsys, "emg", "bursts", path, "--fs", trial.emg.rate, "--channel", 0, "--json")
    assert code == 0 and json.loads(out)["count"] < 5
    code, out, _ = run(
        capsys,
        "emg",
        "bursts",
        path,
        "--fs",
        trial.emg.rate,
        "--channel",
        0,
        "--json",
        "--quiet-percent",
        10,
        "--min-fraction",
        0.25,
    )
    assert code == 0 and json.loads(out)["count"] == 5
