"""Where a process spent its time: py-spy's raw (collapsed) stacks summed per function.

A row is a function and the share of the samples in which it was on the stack (inclusive),
so nested rows overlap; "self" is the share in which it was the innermost frame.
Used by bench/load.py --profile; on its own: .venv/bin/python bench/stacks.py FILE [N]
"""

import re
import sys
from collections import Counter
from pathlib import Path

# "name (module/file.py:12)" -> "name (module/file.py)": lines of one function count together.
LINE_NUMBER = re.compile(r":\d+\)$")


def summarize(path: Path, top: int = 25) -> list[tuple[str, float, float]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [LINE_NUMBER.sub(")", frame) for frame in stack.split(";")]
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    if not total:
        return []
    return [
        (frame, 100 * count / total, 100 * own[frame] / total)
        for frame, count in inclusive.most_common(top)
    ]


def print_summary(path: Path, top: int = 25) -> None:
    print(f"\n{path.name}: share of samples, inclusive and self")
    for frame, inclusive, own in summarize(path, top):
        print(f"{inclusive:6.1f}% {own:6.1f}%  {frame[:110]}")


if __name__ == "__main__":
    if len(sys.argv) < 2:  # make bench runs every bench/*.py without arguments
        print(__doc__.split("\n")[-2])
    else:
        print_summary(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25)
