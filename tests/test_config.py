"""Per-stage overrides from the command line, for any shared key, in every shipped config."""

from __future__ import annotations

import pytest
from absl import flags
from ml_collections import config_flags

from jaxssl.config import ConfigError, resolve_stage, stage_names, with_stage_slots
from tests.conftest import REPO_ROOT

CONFIGS = sorted(p for p in (REPO_ROOT / "configs").glob("*.py") if p.stem != "__init__")


def _parse(config_file: str, *overrides: str):
    """What `python -m jaxssl.main --config=FILE --config.k=v ...` hands to the trainer."""
    argv = ["prog", f"--config={config_file}", *overrides]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "", flag_values=values, sys_argv=argv)
    values(argv)
    return values.config


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_any_shared_key_can_be_overridden_for_one_stage(path):
    config = _parse(str(path))
    names = stage_names(config)
    first, last = names[0], names[-1]
    base_lr = resolve_stage(config, last).train.learning_rate
    config = _parse(
        str(path),
        f"--config.{first}.train.learning_rate=0.123",
        f"--config.{first}.augment.max_shift=7",
        f"--config.{first}.eval.rc_average=False",
        f"--config.{first}.seed=11",
    )
    stage = resolve_stage(config, first)
    assert stage.train.learning_rate == pytest.approx(0.123)
    assert stage.augment.max_shift == 7
    assert stage.eval.rc_average is False
    assert stage.seed == 11
    if last != first:  # the other stages keep the shared value
        assert resolve_stage(config, last).train.learning_rate == pytest.approx(base_lr)
        assert resolve_stage(config, last).seed == config.seed


def test_unset_slots_keep_shared_and_stage_values():
    config = _parse(str(REPO_ROOT / "configs" / "noisy_student.py"), "--config.train.steps=77")
    student = resolve_stage(config, "student_1")
    assert student.train.steps == 400  # set by the stage section, not by the shared value
    assert student.augment.substitution_rate == pytest.approx(0.02)
    assert resolve_stage(config, "pretrain").train.steps == 77
    assert student.model.hparams.num_filters == config.model.hparams.num_filters


def test_slot_types_are_checked_and_unknown_keys_refused():
    path = str(REPO_ROOT / "configs" / "supervised.py")
    with pytest.raises(Exception, match="steps"):
        _parse(path, "--config.supervised.train.steps=many")
    with pytest.raises(Exception, match="no_such_key"):
        _parse(path, "--config.supervised.train.no_such_key=1")
    config = _parse(path)
    config.supervised = {"train": {"stepz": 5}}
    with pytest.raises(ConfigError, match="config.supervised.train.stepz is not a known"):
        resolve_stage(with_stage_slots(config), "supervised")
