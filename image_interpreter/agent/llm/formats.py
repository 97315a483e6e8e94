"""Chat formats: a conversation as the one prompt string a model without a chat template (TGI's
/generate) was trained on, and where its turn ends.

- `openassistant`: `<|system|>…<|endoftext|><|prompter|>…<|endoftext|><|assistant|>` (the
  OpenAssistant SFT models);
- `chatml`: `<|im_start|>role\n…<|im_end|>`;
- `generic`: plain `System:` / `User:` / `Assistant:` paragraphs, for base models.

The ReAct loop sends observations as user turns (`Observation: …`), so every format needs only
the three roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from image_interpreter.agent.llm.text import content_text


@dataclass(frozen=True)
class ChatFormat:
    name: str
    system: str
    user: str
    assistant: str
    generation_prompt: str
    stop: tuple[str, ...]
    special: tuple[str, ...]

    def render(self, messages: Sequence[BaseMessage]) -> str:
        """The prompt: every message in its role's template, then the assistant's opening."""
        parts = []
        for message in messages:
            text = content_text(message.content)
            if isinstance(message, SystemMessage):
                template = self.system
            elif isinstance(message, AIMessage):
                template = self.assistant
            else:  # human and tool messages are the user's side
                template = self.user
            parts.append(template.format(text=text.strip()))
        return "".join(parts) + self.generation_prompt

    def clean(self, text: str) -> str:
        """The model's text without stop strings and special tokens at its end."""
        for token in (*self.stop, *self.special):
            if token.strip() and token in text:
                text = text.split(token, 1)[0] if token in self.stop else text.replace(token, "")
        return text.strip()


FORMATS: dict[str, ChatFormat] = {
    "openassistant": ChatFormat(
        name="openassistant",
        system="<|system|>{text}<|endoftext|>",
        user="<|prompter|>{text}<|endoftext|>",
        assistant="<|assistant|>{text}<|endoftext|>",
        generation_prompt="<|assistant|>",
        stop=("<|endoftext|>", "<|prompter|>"),
        special=("<|assistant|>", "<|system|>", "</s>"),
    ),
    "chatml": ChatFormat(
        name="chatml",
        system="<|im_start|>system\n{text}<|im_end|>\n",
        user="<|im_start|>user\n{text}<|im_end|>\n",
        assistant="<|im_start|>assistant\n{text}<|im_end|>\n",
        generation_prompt="<|im_start|>assistant\n",
        stop=("<|im_end|>", "<|im_start|>"),
        special=("<|endoftext|>", "</s>"),
    ),
    "generic": ChatFormat(
        name="generic",
        system="System: {text}\n\n",
        user="User: {text}\n\n",
        assistant="Assistant: {text}\n\n",
        generation_prompt="Assistant:",
        stop=("\nUser:", "\nSystem:"),
        special=("</s>", "<|endoftext|>"),
    ),
}


def chat_format(name: str) -> ChatFormat:
    return FORMATS[name]
