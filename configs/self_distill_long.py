"""Self-distillation at full width: the recipe of configs/self_distill.py with hours of training.

    python -m jaxssl.main --config=configs/self_distill_long.py --workdir=runs/sd_long
    python -m jaxssl.main --config=configs/self_distill_long.py:mixer --workdir=runs/sd_long_mixer

``dilated_resnet`` at its registry width (128 channels, 8 blocks), batch 128, 3,000
pre-training and up to 2,000 fine-tuning steps per seed, three seeds, with the from-scratch
control. Expected wall time: pre-training runs at about 1.7 s per step on a 2-core CPU, so
about 85 minutes per seed for pre-training alone (over four hours for three seeds); on a GPU
it is minutes. Everything else (stages, data, settings) is the quick default's.
"""

import configs.self_distill as quick


def get_config(model: str | None = None):
    config = quick.get_config(model or "dilated_resnet")
    config.train.batch_size = 128
    config.train.eval_every = 250
    config.pretrain.train.steps = 3000
    config.pretrain.train.warmup_steps = 200
    config.pretrain.train.learning_rate = 5e-4  # its own (the quick default's is 1e-3)
    config.finetune.train.steps = 2000
    config.finetune.train.warmup_steps = 100
    config.self_distill.finetune_from = "teacher"  # the method's choice, once the EMA has moved
    return config
