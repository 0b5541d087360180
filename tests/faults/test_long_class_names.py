"""A class name that does not fit the text context (30 tokens in every preset) is never cut
silently: two long names cut to the same tokens would become the same class."""

from __future__ import annotations

import logging
import shutil

import pytest

from data_fixtures import synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.errors import ConfigError
from tcclip.model.video_clip import VideoCLIP, model_config

# Two names that differ only after the 30th token of their prompt.
COMMON = ("someone carefully lifts a small red cardboard box from the old wooden kitchen table with both hands "
          "and then slowly puts it down again next to the")
LONG_A, LONG_B = f"{COMMON} floor of the room", f"{COMMON} chair by the door"


def tiny_model(**text) -> VideoCLIP:
    return VideoCLIP.build(model_config("vifi_clip", {"backbone": {"arch": "tiny-clip-p16", "weights": None},
                                                      "text": text}))


def test_a_name_longer_than_the_context_is_an_error_naming_it_and_its_tokens():
    model = tiny_model()
    with pytest.raises(ConfigError) as err:
        model.set_class_names(["run", LONG_A, LONG_B])
    message = str(err.value)
    assert "\n" not in message
    assert f"class {LONG_A!r} is 38 tokens in its prompt" in message  # 'a photo of a ... .' + [SOS], [EOT]
    assert "model.text.context_length=30" in message and "and 1 more class(es)" in message
    assert "model.text.truncate_long_names=true" in message


def test_truncation_is_an_explicit_option_with_a_warning(caplog):
    model = tiny_model(truncate_long_names=True)
    with caplog.at_level(logging.WARNING, logger="tcclip.model"):
        model.set_class_names(["run", LONG_A, LONG_B])
    assert any(LONG_A in r.message and "cut to fit" in r.message for r in caplog.records)
    tokens = model.class_tokens
    assert tokens.shape == (3, 30)
    assert bool((tokens[1] == tokens[2]).all())  # what the option accepts: the two became one prompt


def test_names_that_fit_are_untouched():
    tiny_model().set_class_names(["run", "Apply Eye Makeup", COMMON[:60]])


def test_a_run_with_a_too_long_class_name_stops_before_scoring(synth_tiny, tmp_path, capsys):  # noqa: F811
    synth = tmp_path / "synth"
    shutil.copytree(synth_tiny, synth)
    labels = synth / "labels" / "hmdb51_labels.csv"
    rows = labels.read_text().splitlines()
    rows[1] = f"0,{LONG_A}"
    labels.write_text("\n".join(rows) + "\n")
    rc = main(["run", "--config", "embedded", f"protocol.catalog={synth / 'catalog.yaml'}",
               f"output={tmp_path / 'runs'}", "model.preset=vanilla_clip", "model.backbone.weights=null", "train.epochs=0", "data.num_frames=2"])
    assert rc == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tcclip:")]
    assert len(err) == 1 and f"class {LONG_A!r} is" in err[0]
    assert not list((tmp_path / "runs").glob("*/metrics.json"))
