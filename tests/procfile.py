"""The Procfile's commands, so that tests and benches start processes exactly as deployed."""

from pathlib import Path

PROCFILE = Path(__file__).resolve().parent.parent / "Procfile"


def procfile_command(process: str) -> str:
    """The command line of one process type (web, worker, beat), shell syntax as written."""
    for line in PROCFILE.read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise LookupError(f"no {process!r} in the Procfile")
