"""The `compress` command: parses options and calls the Python API, nothing more.

Each subcommand lives in its own module and imports the heavy API lazily inside the command, so
`compress --help` stays fast. Errors the user can fix (`AsdfdError`) become one line and exit 1;
usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

import click

from asdfd import __version__
from asdfd.cli.bench import bench
from asdfd.cli.distill import distill
from asdfd.cli.export import export
from asdfd.cli.run import run
from asdfd.cli.teacher import teacher

__all__ = ["main"]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="compress")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Compress a fine-tuned BERT-style text classifier without its training data.

    \b
    Typical use:
      compress run --teacher ./bert-sst2 --out student.onnx
    or step by step: `compress distill`, `compress export`, `compress bench`.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: cleanups run, distillation checkpoints
        # Once the command is over (done, or its error said), a SIGTERM (torchrun stopping the ranks that are left)
        # just ends the process: raised during interpreter shutdown it would print a traceback after the error line.
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    if os.environ.get("RANK", "0") != "0" and not verbose:  # under torchrun, rank 0 alone narrates
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


for _command in (teacher, distill, export, bench, run):
    main.add_command(_command)
