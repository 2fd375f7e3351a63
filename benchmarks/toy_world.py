"""Times the default toy world build and a liftOver of every reference site through its chains.

taskset -c 0 .venv/bin/python benchmarks/toy_world.py   # one CPU core
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from jaxssl.homology.chain import ChainIndex
from jaxssl.toyworld import ToyWorldParams, generate_toy_world, load_world_info


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        world = generate_toy_world(Path(tmp) / "world", ToyWorldParams())
        print(f"default world: {time.perf_counter() - began:.2f} s")
        info = load_world_info(world)
        rows = [
            line.split("\t")
            for tf in info["tfs"]
            for line in (world / "truth" / "ref" / f"{tf}.bed").read_text().splitlines()
        ]
        chroms = np.array([r[0] for r in rows], object)
        starts = np.array([int(r[1]) for r in rows])
        for sp in info["species"][1:]:
            began = time.perf_counter()
            index = ChainIndex.from_file(world / "chains" / f"ref_to_{sp}.chain")
            lifted = index.lift(chroms, starts, starts + 200, min_match=0.9)
            took = time.perf_counter() - began
            print(f"{sp}: read chains + lift {len(starts)} intervals in {took:.3f} s, "
                  f"{lifted.mapped.mean():.1%} mapped")  # fmt: skip


if __name__ == "__main__":
    main()
