"""``jaxssl_gue``: GUE-style CSV folders as a TensorFlow Datasets builder.

Importing this module registers the builder, so that TFDS users get the GUE tasks the way
``data_prep from-csv`` reads them (same cropping/padding, same checks, same features as a shard
set's TFDS view, examples in file order)::

    import tensorflow_datasets as tfds
    import jaxssl.data.tfds_gue  # registers jaxssl_gue

    ds = tfds.data_source(
        "jaxssl_gue/tf0",
        data_dir="~/tensorflow_datasets",
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir="path/to/GUE")
        },
    )

``manual_dir`` is either the folder of one task (``train.csv[.gz]``, ``dev.csv``, ``test.csv``)
or a folder holding one such folder per config name (``GUE/tf0/``, ...). GUE is not
downloaded here: it comes as one archive from the DNABERT-2 authors. Needs
``tensorflow-datasets`` (``pip install -e ".[tfds]"``), not TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jaxssl.data.split_files import find_split_files
from jaxssl.data.tables import FitStats, check_labels, check_nucleotides, fit_tokens, read_table
from jaxssl.data.tfds_export import features_json


@dataclasses.dataclass(eq=False)
class GueConfig(tfds.core.BuilderConfig):
    """One GUE task: its sequence length and label type (as ``from-csv --label-type``)."""

    seq_len: int = 0
    label_type: str = "binary"


def _configs() -> list[GueConfig]:
    tasks = {
        **{f"tf{i}": (101, "human TF binding (ENCODE ChIP-seq)") for i in range(5)},
        **{
            f"prom_core_{k}": (70, f"core promoter detection ({k})")
            for k in ("all", "notata", "tata")
        },
        **{f"prom_300_{k}": (300, f"promoter detection ({k})") for k in ("all", "notata", "tata")},
    }
    return [
        GueConfig(name=name, seq_len=seq_len, description=f"GUE {what}, {seq_len} bp")
        for name, (seq_len, what) in tasks.items()
    ]


class JaxsslGue(tfds.core.GeneratorBasedBuilder):
    """GUE benchmark tasks (Zhou et al., ICLR 2024) from a local copy, as jaxssl reads them."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = _configs()
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download and unpack GUE (https://github.com/MAGICS-LAB/DNABERT_2, "GUE" archive) and pass
    either the GUE folder or one task's folder (train.csv, dev.csv, test.csv) as manual_dir.
    Other tasks: config=GueConfig(name=FOLDER, seq_len=LENGTH[, label_type="multiclass"]).
    """

    def __init__(self, *, file_format: str | None = None, **kwargs):
        # ArrayRecord by default: TFDS's default (TFRecord) cannot be written without TensorFlow.
        super().__init__(file_format=file_format or "array_record", **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        features = tfds.features.FeatureConnector.from_json(
            features_json(self.builder_config.seq_len, 1)
        )
        return self.dataset_info_from_configs(
            features=features,
            supervised_keys=("tokens", "labels"),
            homepage="https://github.com/MAGICS-LAB/DNABERT_2",
            citation="Zhou et al., DNABERT-2: Efficient Foundation Model and Benchmark For "
            "Multi-Species Genome, ICLR 2024",
            disable_shuffling=True,  # file order, as load_split of a from-csv shard set
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        folder = task_folder(Path(dl_manager.manual_dir), self.builder_config.name)
        return {
            split: self._generate_examples(path) for split, path in find_split_files(folder).items()
        }

    def _generate_examples(self, path: Path) -> Iterator[tuple[int, dict]]:
        config = self.builder_config
        table = read_table(path)
        check_nucleotides(table)
        check_labels(table, config.label_type)
        if table.labels_NT.shape[1] != 1:
            raise ValueError(
                f"{path}: {table.labels_NT.shape[1]} label columns {table.task_names}; GUE "
                "tables have one (sequence,label); use `python -m data_prep from-csv` for more"
            )
        tokens_NL = fit_tokens(table.sequences, config.seq_len, stats=FitStats())
        for i, (tokens_L, labels_T) in enumerate(zip(tokens_NL, table.labels_NT, strict=True)):
            yield (
                i,
                {
                    "tokens": tokens_L,
                    "labels": labels_T,
                    "weights": np.float32(1.0),
                    "genome": "",
                    "chrom": "",
                    "start": -1,
                    "strand": "+",
                },
            )


def task_folder(manual_dir: Path, name: str) -> Path:
    """``manual_dir/name`` when it exists (a GUE root), else ``manual_dir`` (one task)."""
    return manual_dir / name if (manual_dir / name).is_dir() else manual_dir
