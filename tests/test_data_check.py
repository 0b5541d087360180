"""`tcclip data check`: every problem of a list found in one pass, with counts."""

import json

from data_fixtures import moving_square_frames, write_list

from tcclip.cli import main
from tcclip.data.check import check_dataset
from tcclip.data.video import write_video


def make_dataset(root):
    good = write_video(root / "good.mp4", moving_square_frames(8))
    (root / "sub").mkdir()
    write_video(root / "sub" / "good2.mp4", moving_square_frames(8, seed=3))
    (root / "empty.mp4").write_bytes(b"")
    (root / "corrupt.mp4").write_bytes(good.read_bytes()[:300])
    write_list(root / "labels.csv", ["id,name", "0,jump", "1,run"])
    return write_list(root / "list.txt", [
        "good.mp4 0",
        "sub/good2.mp4 1",
        "missing.mp4 0",
        "empty.mp4 1",
        "corrupt.mp4 0",
        "good.mp4 7",          # label out of range
        "no_label_here.mp4",   # malformed line
    ])


def test_check_finds_every_problem_in_one_pass(tmp_path):
    listing = make_dataset(tmp_path)
    report = check_dataset(listing, tmp_path, label_file=tmp_path / "labels.csv")
    assert report.lines == 7 and report.videos_checked == 6
    assert report.counts() == {"bad_line": 1, "label_out_of_range": 1, "missing": 1, "empty": 1, "unreadable": 1}
    assert [(p.line, p.kind) for p in report.problems] == [
        (3, "missing"), (4, "empty"), (5, "unreadable"), (6, "label_out_of_range"), (7, "bad_line")]
    assert not report.ok
    for backend in ("pyav",):
        again = check_dataset(listing, tmp_path, num_classes=2, backend=backend, decode="all")
        assert again.counts() == report.counts()


def test_check_cli_exit_status_summary_and_report(tmp_path, capsys):
    listing = make_dataset(tmp_path)
    out = tmp_path / "report.json"
    status = main(["data", "check", str(listing), "--root", str(tmp_path), "--labels", str(tmp_path / "labels.csv"),
                   "--report", str(out)])
    assert status == 1
    text = capsys.readouterr().out
    assert "5 problem(s)" in text and "missing 1" in text and "line 3: missing" in text
    data = json.loads(out.read_text())
    assert data["counts"]["unreadable"] == 1 and len(data["problems"]) == 5

    clean = write_list(tmp_path / "clean.txt", ["good.mp4 0", "sub/good2.mp4 1"])
    assert main(["data", "check", str(clean), "--root", str(tmp_path), "--num-classes", "2"]) == 0


def test_check_cli_error_is_one_line(tmp_path, capsys):
    status = main(["data", "check", str(tmp_path / "nope.txt"), "--root", str(tmp_path)])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tcclip: error:") and "nope.txt: annotation list not found" in err and "\n" not in err
