"""``python -m orl.data.build NAME [NAME ...] | all [--force]``: build registered datasets ahead of time.

Datasets are otherwise built on first use by ``load_dataset``. Each build shows a progress bar,
is cached under ``$ORL_DATA_DIR/minari`` (default ``~/.orl/minari``), and is written atomically.
A damaged cached copy is rebuilt (and said so on stderr). Faults (an unknown name, a full disk, an
unusable ``ORL_DATA_DIR``) end the command with one line on stderr and exit status 2; Ctrl-C ends it
within a moment with one line and status 130, keeping nothing of the interrupted build.
"""

from __future__ import annotations

import argparse
import sys
import time

from orl.data.errors import DatasetError
from orl.data.registry import dataset_info, dataset_names, ensure_built, is_built
from orl.utils.cli import INTERRUPTED, run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orl.data.build", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="+", help="dataset names, or 'all'")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = p.parse_args(argv)
    names = dataset_names() if args.names == ["all"] else args.names
    name = None
    try:
        for name in names:
            dataset_info(name)  # unknown names fail before any work starts
        for name in names:
            if is_built(name) and not args.force:
                print(f"{name}: already built")
                continue
            t = time.time()
            path, built = ensure_built(name, force=args.force)
            if built:
                print(f"{name}: built in {time.time() - t:.0f} s -> {path}")
            else:
                print(f"{name}: built by another process while this one waited ({time.time() - t:.0f} s) -> {path}")
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The build's workers and writer are already ended and its temporary removed (orl.utils.parallel,
        # io.save_minari): only the one line remains to be said.
        print(f"\ninterrupted: the build of {name} was stopped; nothing of it was kept "
              f"(run the same command to build it again)", file=sys.stderr)
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
