"""What the terminal chat reads from a GGUF's own chat template, through llama-cpp-python's Jinja."""

from __future__ import annotations

from common.chat_format import PROBE_QUESTION, opens_think_block


def template_prefills_thinking(llama) -> bool:
    """Whether the GGUF's chat template opens the think block itself (R1 does; a model without
    thinking, or one trained to open the block, does not): then text with no tag is thinking,
    else it is the answer."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return False
    formatter = Jinja2ChatFormatter(template=template, eos_token=llama._model.token_get_text(llama.token_eos()),
                                    bos_token=llama._model.token_get_text(llama.token_bos()))
    return opens_think_block(formatter(messages=[{"role": "user", "content": PROBE_QUESTION}]).prompt)
