"""Captions from a vision model on Amazon Bedrock, through the Converse API: one request per
caption, the picture as an image content block next to the instruction.

Optional and remote: it needs AWS credentials and a region (boto3's usual chain: AWS_PROFILE,
AWS_REGION, ~/.aws) and access to the model in that region. The model id is the models setting
under "caption.bedrock" (IMAGE_INTERPRETER_MODELS='{"caption.bedrock": "<model id>"}'); some
accounts must name a cross-region inference profile ("us.amazon.nova-lite-v1:0"). The picture is
sent as JPEG at most `max_side` pixels large, well inside Bedrock's 3.75 MB per image.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from PIL import Image
from pydantic import Field

from image_interpreter.errors import ExtractionError
from image_interpreter.extract.base import ExtractContext, register_extractor
from image_interpreter.extract.base import Params as BaseParams
from image_interpreter.extract.extractors.captions import CaptionExtractor, Text
from image_interpreter.priors.schema import CaptionPrior

if TYPE_CHECKING:
    from botocore.client import BaseClient

SETTING = "caption.bedrock"  # key in settings.models
DEFAULT_MODEL = "amazon.nova-lite-v1:0"
CAPTION_PROMPT = (
    "Write a one-sentence caption of this picture: what it shows, as plain text, no preamble."
)
DETAILED_PROMPT = (
    "Describe this picture in one paragraph: the subjects and what they do, the setting, the"
    " light and the style. Plain text, no preamble."
)
_REFUSED = {"content_filtered", "guardrail_intervened"}


class BedrockParams(BaseParams):
    prompt: Text = Field(CAPTION_PROMPT, min_length=1, description="The instruction for a caption.")
    detailed: bool = Field(False, description="Also ask for a detailed description (a 2nd call).")
    max_tokens: int = Field(300, ge=1, le=4096, description="Longest answer, in tokens.")
    temperature: float = Field(0.2, ge=0.0, le=1.0)
    max_side: int = Field(1024, ge=64, le=8000, description="Send a copy at most this large.")


@register_extractor
class BedrockCaptions(CaptionExtractor):
    name = "caption.bedrock"
    aliases = ("bedrock",)
    Params = BedrockParams
    description = "A caption from a vision model on Amazon Bedrock (needs AWS access)."

    @property
    def model(self) -> str:
        return self.settings.models.get(SETTING) or DEFAULT_MODEL

    def model_ids(self) -> dict[str, str]:
        return {SETTING: self.model}

    def new_client(self) -> BaseClient:
        import boto3

        return boto3.client("bedrock-runtime")

    def load(self) -> None:
        from botocore.exceptions import BotoCoreError, NoRegionError

        try:
            self.client = self.new_client()
        except NoRegionError:
            raise ExtractionError(
                "Amazon Bedrock needs an AWS region: set AWS_REGION (e.g. us-east-1) or a region"
                " in ~/.aws/config, one where your account has access to the model."
            ) from None
        except BotoCoreError as exc:
            raise ExtractionError(f"Could not set up the Bedrock client: {exc}") from exc

    def extract(self, image: Image.Image, params: BedrockParams, ctx: ExtractContext):
        picture = image_bytes(image, params.max_side)
        text = self.converse(picture, params.prompt, params)
        detailed = None
        if params.detailed:
            ctx.progress("detailed caption", 0.5)
            detailed = self.converse(picture, DETAILED_PROMPT, params)
        return CaptionPrior(text=text, detailed=detailed)

    def converse(self, picture: bytes, prompt: str, params: BedrockParams) -> str:
        """One Converse call: the picture, then the instruction; the answer's text."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            reply = self.client.converse(**request(self.model, picture, prompt, params))
        except ClientError as exc:
            raise _client_error(exc, self.model) from exc
        except NoCredentialsError:
            raise ExtractionError(
                "No AWS credentials for Amazon Bedrock. Configure them (aws configure, AWS_PROFILE,"
                " or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and try again."
            ) from None
        except BotoCoreError as exc:  # no connection, timeouts
            raise ExtractionError(
                f"Could not reach Amazon Bedrock ({exc}). Check the network and try again."
            ) from exc
        return answer_text(reply, self.model)


def image_bytes(image: Image.Image, max_side: int) -> bytes:
    """The picture as sent: RGB JPEG (quality 90), at most `max_side` pixels each way."""
    picture = image.convert("RGB")
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def request(model: str, picture: bytes, prompt: str, params: BedrockParams) -> dict[str, Any]:
    """The Converse request for one picture and one instruction."""
    content = [{"image": {"format": "jpeg", "source": {"bytes": picture}}}, {"text": prompt}]
    return {
        "modelId": model,
        "messages": [{"role": "user", "content": content}],
        "inferenceConfig": {"maxTokens": params.max_tokens, "temperature": params.temperature},
    }


def answer_text(reply: dict[str, Any], model: str) -> str:
    if reply.get("stopReason") in _REFUSED:
        raise ExtractionError(
            f"Bedrock model {model} declined to describe this picture"
            f" ({reply['stopReason']}). Try another captioner (caption.florence2)."
        )
    blocks = reply.get("output", {}).get("message", {}).get("content", [])
    return " ".join(" ".join(b["text"] for b in blocks if "text" in b).split())


def _client_error(exc: Any, model: str) -> ExtractionError:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Error"), error.get("Message", str(exc))
    where = f"model {model}"
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        fix = (
            f"Enable {where} under 'Model access' in the Bedrock console for this region, and"
            " allow these credentials bedrock:InvokeModel on it."
        )
    elif code in ("ThrottlingException", "ServiceQuotaExceededException"):
        fix = "Bedrock is limiting requests: wait a minute and try again, or ask for more quota."
    elif code in ("ResourceNotFoundException", "ValidationException"):
        fix = (
            f"Check the model id (IMAGE_INTERPRETER_MODELS '{SETTING}'): it must name a vision"
            " model that supports the Converse API in this region; some accounts need an"
            " inference profile id such as 'us.amazon.nova-lite-v1:0'."
        )
    else:  # ModelNotReady, ModelTimeout, ServiceUnavailable, InternalServer, ModelError
        fix = "The service had a problem: try again in a moment."
    return ExtractionError(
        f"Amazon Bedrock refused the caption request for {where} ({code}: {message}). {fix}"
    )
