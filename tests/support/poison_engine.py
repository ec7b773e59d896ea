"""A vLLM logits processor that crashes the engine on one prompt: a real poison input.

Loaded by the engine core process (``teacher.engine_kwargs.logits_processors``,
``"tests.support.poison_engine:CrashOnMarker"``). When a request whose prompt contains
:data:`MARKER` enters the engine's batch, it raises inside the engine core's step,
as a kernel fault on that input does: vLLM's engine core dies and every request
in flight fails with ``EngineDeadError``.
"""

from __future__ import annotations

from typing import Any

from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor

MARKER = "POISONPILL"


class CrashOnMarker(LogitsProcessor):
    """Leaves logits alone; raises when a prompt containing :data:`MARKER` is scheduled."""

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(vllm_config.model_config.tokenizer)

    def is_argmax_invariant(self) -> bool:
        """It never changes the logits."""
        return True

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        """Crash the engine core when a poison prompt is added to the batch."""
        for _index, _params, prompt_ids, _output_ids in batch_update.added if batch_update else ():
            if prompt_ids and MARKER in self.tokenizer.decode(prompt_ids):
                raise RuntimeError(f"poison prompt ({MARKER}) crashed the engine core")

    def apply(self, logits: Any) -> Any:
        """Logits unchanged."""
        return logits
