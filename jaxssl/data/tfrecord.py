"""Optional TFRecord export of a shard set, for users whose other tools read tf.train.Example.

TensorFlow is imported only here and only when asked for: it is never a jaxssl dependency.
"""

from __future__ import annotations

from pathlib import Path

from jaxssl.data.manifest import load_manifest
from jaxssl.data.reader import SplitReader


def export_tfrecord(shard_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Writes ``<split>.tfrecord`` per split (features: tokens bytes, labels/weights float,
    chrom/genome/strand bytes, start int64, extra fields float) beside or into ``out_dir``."""
    try:
        import tensorflow as tf
    except ImportError:
        raise ValueError(
            "TFRecord export needs TensorFlow, which is not installed "
            "(pip install tensorflow-cpu); the ArrayRecord shards were written regardless"
        ) from None
    shard_dir = Path(shard_dir)
    out_dir = Path(out_dir) if out_dir else shard_dir.with_name(shard_dir.name + "_tfrecord")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(shard_dir)
    written = []
    for split in manifest.splits:
        path = out_dir / f"{split}.tfrecord"
        reader = SplitReader(shard_dir, split, random_access=False)
        with tf.io.TFRecordWriter(str(path)) as w:
            for block in reader.iter_blocks(provenance=True):
                for i in range(len(block["tokens"])):
                    feat = {
                        "tokens": _bytes(tf, block["tokens"][i].tobytes()),
                        "labels": _floats(tf, block["labels"][i]),
                        "weight": _floats(tf, [block["weights"][i]]),
                        "genome": _bytes(tf, block["genome"][i].encode()),
                        "chrom": _bytes(tf, block["chrom"][i].encode()),
                        "strand": _bytes(tf, block["strand"][i].encode()),
                        "start": tf.train.Feature(
                            int64_list=tf.train.Int64List(value=[int(block["start"][i])])
                        ),
                    }
                    for name in manifest.extra_fields:
                        feat[name] = _floats(tf, [block[name][i]])
                    example = tf.train.Example(features=tf.train.Features(feature=feat))
                    w.write(example.SerializeToString())
        reader.close()
        written.append(path)
    return written


def _bytes(tf, value: bytes):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _floats(tf, values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
