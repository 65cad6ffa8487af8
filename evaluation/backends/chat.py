"""Any OpenAI-compatible chat-completions endpoint, through the official client.

The client's own retries are switched off: this backend retries rate limits (429,
honouring Retry-After up to the backoff cap), timeouts, connection errors and 5xx
itself, so that every attempt is counted and recorded per item. Other 4xx answers
are not retried: they will not change by asking again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import openai

from evaluation.backends.base import Generation
from evaluation.backends.prompts import build_messages, extract_sql

__all__ = ["API_PARAMETERS", "NO_SQL", "ChatCompletionsBackend"]

# The error of a reply with no text at all: what a refusal can look like.
NO_SQL = "the reply held no SQL"

# Generation parameters passed through to the endpoint; anything else in a model
# version's parameters is ignored rather than sent to a server that may refuse it.
API_PARAMETERS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
    }
)


class ChatCompletionsBackend:
    """Render the prompt version for each question and ask a chat model for SQL."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        template_text: str,
        prompt_parameters: Mapping[str, Any],
        examples: Sequence[Mapping[str, str]],
        example_database: str,
        generation_parameters: Mapping[str, Any],
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Configure the client; no request is made until `generate`."""
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            timeout=timeout_s,
            max_retries=0,
        )
        self.model = model
        self.template_text = template_text
        self.prompt_parameters = prompt_parameters
        self.examples = examples
        self.example_database = example_database
        self.options = {
            k: v for k, v in generation_parameters.items() if k in API_PARAMETERS
        }
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep

    def messages_for(
        self,
        question: str,
        *,
        database: str,
        schema: Mapping[str, Sequence[str]],
        dialect: str = "sqlite",
    ) -> list[dict[str, str]]:
        """The chat messages sent for `question` (few-shot examples of its database)."""
        return build_messages(
            template_text=self.template_text,
            parameters=self.prompt_parameters,
            schema=schema,
            examples=self.examples if database == self.example_database else [],
            question=question,
            dialect=dialect,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff_s))
        # Jitter spreads retries of parallel workers hitting the same limit.
        return delay * (1.0 + 0.1 * random.random())  # noqa: S311

    def generate(
        self,
        question: str,
        *,
        database: str,
        schema: Mapping[str, Sequence[str]],
        dialect: str = "sqlite",
    ) -> Generation:
        """Ask the endpoint; retry transient failures; never raise per item."""
        messages = self.messages_for(
            question, database=database, schema=schema, dialect=dialect
        )
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            retry_after: float | None = None
            try:
                reply = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    **self.options,
                )
                elapsed = (time.monotonic() - started) * 1000.0
                content = reply.choices[0].message.content if reply.choices else None
                sql = extract_sql(content or "")
                if not sql:
                    return Generation("", elapsed, attempt, NO_SQL, "bad_response")
                return Generation(sql, elapsed, attempt)
            except openai.RateLimitError as exc:
                kind, message = "rate_limited", _status_message(exc)
                retry_after = _retry_after(exc)
            except openai.APITimeoutError:
                kind, message = "timeout", "the endpoint did not answer in time"
            except openai.APIConnectionError as exc:
                kind, message = "connection", f"cannot reach the endpoint: {exc}"
            except openai.InternalServerError as exc:
                kind, message = "server_error", _status_message(exc)
            except openai.APIStatusError as exc:
                elapsed = (time.monotonic() - started) * 1000.0
                kind = f"http_{exc.status_code}"
                return Generation("", elapsed, attempt, _status_message(exc), kind)
            except (openai.OpenAIError, ValueError, AttributeError, IndexError) as exc:
                elapsed = (time.monotonic() - started) * 1000.0
                return Generation("", elapsed, attempt, str(exc), "bad_response")
            elapsed = (time.monotonic() - started) * 1000.0
            if attempt >= self.max_attempts:
                return Generation(
                    "", elapsed, attempt, f"{message} (after {attempt} attempts)", kind
                )
            self._sleep(self._delay(attempt, retry_after))


def _status_message(exc: openai.APIStatusError) -> str:
    return f"HTTP {exc.status_code}: {str(exc.message)[:500]}"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    raw = exc.response.headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
