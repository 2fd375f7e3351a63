"""The verdict: paired intervals, one word per comparison, the table, the plot, the benchmark."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jaxssl.verdict import compare, markdown, paired_interval, plot, t_quantile_975
from tests.benchmark_module import load_benchmark
from tests.synthetic import make_motif_shards


def test_paired_interval_on_hand_made_differences():
    c = paired_interval([0.01, 0.02, 0.03])
    assert c["mean"] == pytest.approx(0.02) and c["sd"] == pytest.approx(0.01)
    half = 4.303 * 0.01 / math.sqrt(3)  # t(0.975, 2) = 4.303
    assert (c["low"], c["high"]) == pytest.approx((0.02 - half, 0.02 + half))
    assert c["word"] == "ties" and c["wins"] == 3 and c["sign_test_p"] == pytest.approx(0.25)

    wins = paired_interval([0.020, 0.021, 0.019, 0.020, 0.020])
    assert wins["word"] == "wins" and wins["low"] > 0 and wins["n"] == 5
    loses = paired_interval([-0.05, -0.04, -0.06, None])  # a missing seed is left out
    assert loses["word"] == "loses" and loses["n"] == 3 and loses["high"] < 0
    one = paired_interval([0.3])
    assert one["word"] == "ties" and math.isinf(one["low"])  # one seed: no evidence
    assert paired_interval([])["word"] == "ties"
    assert t_quantile_975(4) == 2.776 and t_quantile_975(100) == 1.96
    with pytest.raises(ValueError):
        t_quantile_975(0)


def _summary(method, control):
    def entry(values):
        return {"test": {"mean": {"auprc": {"values": values}}}}

    return {"seeds": [0, 1, 2], "stages": {"m": entry(method), "c": entry(control)}}


def test_compare_pairs_seeds_and_the_table_says_the_word(tmp_path):
    result = compare(_summary([0.70, 0.72, 0.71], [0.60, 0.61, 0.62]), "m", "c")
    assert result["differences"] == pytest.approx([0.10, 0.11, 0.09])
    assert result["word"] == "wins" and result["method_mean"] == pytest.approx(0.71)
    rows = [
        {"regime": "toy", "labeled": 50, "method": "m", "control": "c", "comparison": result},
        {
            "regime": "toy",
            "labeled": 200,
            "method": "m",
            "control": "c",
            "comparison": compare(_summary([0.5, 0.6, 0.7], [0.6, 0.6, 0.6]), "m", "c"),
        },
    ]
    table = markdown(rows)
    assert "| toy | 50 | m | c | +0.1000 [" in table and "| 3/3 | **wins** |" in table
    assert "**ties**" in table
    assert plot(rows, tmp_path / "v.png") and (tmp_path / "v.png").stat().st_size > 5_000


def test_benchmark_points_and_commands(tmp_path):
    bench = load_benchmark("verdict")
    labeled = make_motif_shards(tmp_path / "set")
    positives = int(np.sum(bench.load_manifest(labeled).split("train")["positives"][0]))
    assert bench.max_positives("25", None) == 25
    assert bench.max_positives("10%", labeled) == round(0.1 * positives)
    args = bench.parse_args(["--workdir", str(tmp_path), "--quick"])
    assert (args.regimes, args.points, args.seeds) == ("toy_oracle,gue_tf0", "25", "0,1")
    command = bench.run_command(
        bench.REGIMES["toy_oracle"], "25", "0,1", tmp_path / "run", args, tmp_path
    )
    assert "--config=configs/label_budget.py:25,carried=oracle" in command
    assert "--config.seeds=0,1" in command
    with pytest.raises(SystemExit):
        bench.parse_args(["--workdir", str(tmp_path), "--regimes", "toy_truth"])


def test_scarce_labels_config_pairs_every_method_with_a_tuned_control():
    import configs.scarce_labels as scarce
    from jaxssl import stage_plan

    config = scarce.get_config("steps=400")
    config.seeds = ""
    assert config.stages == (
        "teacher,label_soft,noisy_student,label_hard,pseudo_label,sd_pretrain,sd_finetune,"
        "supervised,scratch"
    )
    stages = {s.stage_name: s for s in stage_plan.resolved_stages(config)}
    # One noise recipe for every stage, the teacher's included.
    for name in ("teacher", "noisy_student", "pseudo_label", "supervised_x1", "scratch_x1"):
        assert stages[name].augment.insertion_prob == 0.5, name
        assert stages[name].augment.substitution_rate == 0.05, name
    assert stages["label_soft"].pseudo.sources == "labeled:pool"
    assert stages["label_hard"].pseudo.unlabeled_mode == "hard"
    assert stages["sd_pretrain"].data.extra_train == "labeled:pool"
    assert not stages["sd_pretrain"].data.use_labeled_train
    # Students are twice as wide, from scratch; the control takes their width.
    wide = 2 * stages["teacher"].model.hparams.num_filters
    assert stages["noisy_student"].model.hparams.num_filters == wide
    assert stages["supervised_x1"].model.hparams.num_filters == wide
    assert stages["noisy_student"].init_from == ""
    # Lineage of a student = teacher + student; of sd_finetune = sd_pretrain + sd_finetune.
    assert [stages[f"supervised_x{f}"].train.steps for f in ("0.25", "0.5", "1")] == [
        200,
        400,
        800,
    ]
    assert stages["scratch_x1"].train.steps == 800
    only = scarce.get_config("methods=self_distill")
    assert only.stages == "sd_pretrain,sd_finetune,scratch"
    with pytest.raises(ValueError, match="methods"):
        scarce.get_config("methods=mixup")
