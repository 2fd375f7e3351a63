"""CTCF (GM12878 ChIP-seq) with self-distillation pre-training vs. supervised from scratch.

Used by ``benchmarks/variant_effects.py --ssl`` for the allele-specific binding evidence::

    python -m data_prep from-fasta runs/ve/shards --fasta .../CTCF_GM12878_hg19_pos.fa.gz \
        --fasta .../CTCF_GM12878_hg19_neg.fa.gz --labels 1,0 --task-name CTCF --seq-len 100
    python -m jaxssl.main --config=configs/ctcf_ssl.py --workdir=runs/ve/ssl \
        --config.data.path=runs/ve/shards

Stage ``pretrain`` (objective ``self_distill``) reads the shard set's train split with its
labels ignored (peak and matched background windows of the training chromosomes; valid chr7
and test chr8, chr9 are never read), ``finetune`` trains on the labels from the pre-trained
backbone, and ``scratch`` is the supervised control: the same deepbind from scratch on the
same labels. Every stage runs once per seed (0, 1, 2). Step counts are sized for a shared
2-core CPU (docs/results/variant_effects.md); the text after ':' picks another backbone.
"""

from configs.self_distill import get_config as self_distill_config


def get_config(model: str | None = None):
    config = self_distill_config(model or "deepbind")
    config.data.path = "runs/ve/shards"
    config.train.eval_every = 250
    config.train.patience = 4
    config.train.progress_bar = False
    config.pretrain.data.extra_train = "runs/ve/shards:train"
    # The recipe of docs/results/variant_effects.md's figures, pinned here (the quick
    # self_distill default is smaller).
    config.train.batch_size = 128
    config.pretrain.train.steps = 3000
    config.pretrain.train.warmup_steps = 200
    config.finetune.train.steps = 3000
    config.finetune.train.warmup_steps = 100
    return config
