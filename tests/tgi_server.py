"""A loopback text-generation-inference that enforces its context like TGI, with a tokenizer
built here, and answers from a dialogue's script.

    folder = build_tokenizer(tmp_path / "tokenizer")          # byte-level BPE, trained locally
    with LoopbackTGI(tokenizer=folder, max_total_tokens=2048) as tgi:
        tgi.script(replies)                                    # ScriptedReply's, as dialogues have
        backend = TGIBackend(LLMConfig(..., base_url=tgi.url, tokenizer=str(folder)))

Like TGI's router, every request's input is counted with the model's tokenizer (`/generate`:
`inputs`; the Messages API: the chat rendered, the tools' JSON in front) and refused with 422
and TGI's own validation message when `inputs` tokens + `max_new_tokens` pass
`max_total_tokens`, or the input passes `max_input_tokens`. A refused request uses no scripted
reply. `largest` keeps the largest input accepted per route, `refused` the refusals.

Scripted replies are rendered for the route asked: tool calls as the Messages API's
`tool_calls`, or as ReAct text on `/generate` ("Action: ...\\nAction Input: {...}"; a reply
without tool calls becomes "Final Answer: ..."); `error: unavailable` answers 503 (overloaded),
`error: refused` 400. The object plays the dialogue runner's scripted model: `script`, `left`,
`unscripted`.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_llm_server import FakeLLMServer, Reply, call, completion, generate
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL = [
    "<|endoftext|>",
    "<|system|>",
    "<|prompter|>",
    "<|assistant|>",
    "<|im_start|>",
    "<|im_end|>",
]
GENERATE = ("/generate", "/generate_stream")
CHAT = "/v1/chat/completions"
_REACT = re.compile(r"^\s*(Thought|Action|Final Answer)\s*:", re.MULTILINE)


def build_tokenizer(folder: Path, vocab_size: int = 2048) -> Path:
    """A GPT-NeoX-style byte-level BPE trained on this repository's prompts, dialogues and
    README (small vocabulary: it counts more tokens than a real model's, never fewer), with the
    chat formats' markers as single special tokens; saved as `folder/tokenizer.json`."""
    root = Path(__file__).resolve().parent.parent
    texts = [
        p.read_text("utf-8")
        for pattern in ("image_interpreter/prompts/**/*.txt", "tests/dialogues/*.yaml", "*.md")
        for p in sorted(root.glob(pattern))
    ]
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def validation_error(message: str) -> Reply:
    """TGI's answer to a request it refuses before generating."""
    body = {"error": f"Input validation error: {message}", "error_type": "validation"}
    return Reply(status=422, body=body)


def chat_text(body: dict[str, Any]) -> str:
    """A Messages API request as a chat template renders it: the tools' JSON, then each
    message (its tool calls as JSON) in ChatML."""
    parts = [json.dumps(body["tools"])] if body.get("tools") else []
    for message in body.get("messages") or []:
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        calls = message.get("tool_calls")
        if calls:
            content += json.dumps([c.get("function") for c in calls])
        parts.append(f"<|im_start|>{message.get('role')}\n{content}<|im_end|>")
    return "\n".join(parts) + "\n<|im_start|>assistant\n"


@dataclass
class LoopbackTGI(FakeLLMServer):
    tokenizer: Path | None = None
    max_total_tokens: int = 2048
    max_input_tokens: int | None = None  # TGI's default: max_total_tokens - 1
    replies: deque[Any] = field(default_factory=deque)
    largest: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    unscripted: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        assert self.tokenizer is not None, "LoopbackTGI counts with a tokenizer"
        self._tokenizer = Tokenizer.from_file(str(Path(self.tokenizer) / "tokenizer.json"))

    # --- the scripted model's side ----------------------------------------------------------

    def script(self, replies: Any) -> None:
        with self._lock:
            self.replies = deque(replies)

    @property
    def left(self) -> int:
        return len(self.replies)

    # --- the server's side ------------------------------------------------------------------

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def next_reply(self, path: str, body: Any) -> Reply | None:
        if path in GENERATE:
            inputs = self.count(body["inputs"])
            wanted = int((body.get("parameters") or {}).get("max_new_tokens") or 100)
        elif path == CHAT:
            inputs = self.count(chat_text(body))
            wanted = int(body.get("max_tokens") or body.get("max_completion_tokens") or 100)
        else:
            return super().next_reply(path, body)
        refusal = self._check(inputs, wanted)
        if refusal is not None:
            self.refused.append(refusal)
            return validation_error(refusal)
        self.largest[path] = max(self.largest.get(path, 0), inputs)
        if not self.replies:
            self.unscripted += 1
            return Reply(status=599, body={"error": f"nothing scripted for {path}"})
        return self._render(path, self.replies.popleft(), inputs, wanted)

    def _check(self, inputs: int, wanted: int) -> str | None:
        """TGI router's validation (validation.rs), word for word."""
        most = self.max_input_tokens or self.max_total_tokens - 1
        if inputs > most:
            return f"`inputs` must have less than {most} tokens. Given: {inputs}"
        if inputs + wanted > self.max_total_tokens:
            return (
                f"`inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}."
                f" Given: {inputs} `inputs` tokens and {wanted} `max_new_tokens`"
            )
        return None

    def _render(self, path: str, scripted: Any, inputs: int, wanted: int) -> Reply:
        if scripted.error == "unavailable":
            overloaded = {"error": "Model is overloaded", "error_type": "overloaded"}
            return Reply(status=503, body=overloaded)
        if scripted.error == "refused":
            return Reply(status=400, body={"error": "the scripted server refused the request"})
        if path in GENERATE:
            if scripted.tool_calls:
                first = scripted.tool_calls[0]
                text = f"Action: {first.name}\nAction Input: {json.dumps(first.args)}"
            elif _REACT.search(scripted.say):
                text = scripted.say
            else:
                text = f"Final Answer: {scripted.say}"
            return generate(text, tokens=min(wanted, self.count(text)))
        calls = [
            call(c.name, json.dumps(c.args), c.id or f"call_{i}")
            for i, c in enumerate(scripted.tool_calls)
        ]
        said = self.count(scripted.say + json.dumps([c.args for c in scripted.tool_calls]))
        return completion(scripted.say or None, calls or None, usage=(inputs, min(said, wanted)))
