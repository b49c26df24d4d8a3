"""An Ollama Modelfile for the GGUF: the R1 template, its four stop tokens, R1 sampling."""

from __future__ import annotations

from common.reasoning import ASSISTANT, EOS, STOP_STRINGS, THINK_OPEN, USER

# Go-template version of the R1-Distill chat template: user turns after <｜User｜>, earlier
# answers closed with EOS, and the generation prompt opening the think block.
TEMPLATE = (
    "{{- if .System }}{{ .System }}{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n"
    "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
    "{{- if eq .Role \"user\" }}" + USER + "{{ .Content }}\n"
    "{{- else if eq .Role \"assistant\" }}" + ASSISTANT + "{{ .Content }}"
    "{{- if not $last }}" + EOS + "{{- end }}\n"
    "{{- end }}\n"
    "{{- if and $last (ne .Role \"assistant\") }}" + ASSISTANT + THINK_OPEN + "\n{{ end }}\n"
    "{{- end }}"
)


def render_modelfile(gguf_name: str, temperature: float, top_p: float, num_ctx: int) -> str:
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{TEMPLATE}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in STOP_STRINGS]
    lines += [f"PARAMETER temperature {temperature}", f"PARAMETER top_p {top_p}", f"PARAMETER num_ctx {num_ctx}"]
    return "\n".join(lines) + "\n"
