"""A real Presidio client, unchanged: LiteLLM's ``presidio`` guardrail pointed at our face for
both its analyzer and its anonymizer, in front of a recording OpenAI-compatible upstream.

LiteLLM's proxy server cannot run here: ``litellm.proxy.proxy_server`` (and its guardrail registry,
``guardrail_registry``) import FastAPI, which is not among our locked dependencies (litellm is a
dev dependency without its ``[proxy]`` extra). So the test builds the guardrail callbacks with
LiteLLM's own initializer (``guardrail_initializers.initialize_presidio``, what the proxy calls for
a ``guardrail: presidio`` entry of its config) from the README's config snippet, and drives them
the way the proxy does around a call: every callback's ``async_pre_call_hook``, then
``litellm.acompletion`` (LiteLLM's real OpenAI client over HTTP to the recording upstream), then
every callback's ``async_post_call_success_hook``. The guardrail's HTTP calls to ``/analyze`` and
``/anonymize`` are LiteLLM's own code, unchanged."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the price map

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.helpers import ProxyProcess, free_port, start_proxy

NAME = "Maria Garcia"
MAIL = "maria.garcia@example.com"
PHONE = "415-555-0199"
MESSAGE = f"Hi, I am {NAME}, write to {MAIL} or call {PHONE} about my order."

#: The README's LiteLLM config (``guardrails:`` entry), with the port filled in.
SNIPPET = """
guardrails:
  - guardrail_name: presidio-pii
    litellm_params:
      guardrail: presidio
      mode: pre_call
      default_on: true
      presidio_analyzer_api_base: http://127.0.0.1:{port}
      presidio_anonymizer_api_base: http://127.0.0.1:{port}
      presidio_language: en
      presidio_filter_scope: input
      output_parse_pii: {parse}
"""


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, int]]:
    port = free_port()
    p = start_proxy(tmp_path_factory.mktemp("presidio-litellm"), env={"PRESIDIO_PORT": str(port)})
    try:
        yield p, port
    finally:
        p.stop()


class OpenAIUpstream:
    """An OpenAI-compatible ``/v1/chat/completions`` that records every request and answers by
    quoting the last user message (so un-masking of the answer can be seen)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        last = body["messages"][-1]["content"]
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f"Noted: {last}"}}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )


@pytest.fixture(scope="module")
async def openai_upstream() -> AsyncIterator[OpenAIUpstream]:
    up = OpenAIUpstream()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", up.chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    up.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield up
    finally:
        await runner.cleanup()


async def chat_through_guardrail(port: int, upstream: OpenAIUpstream, *, parse: bool) -> str:
    """One chat completion the way LiteLLM's proxy runs it with the snippet's guardrail."""
    import litellm
    from litellm.caching.dual_cache import DualCache
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.guardrails.guardrail_initializers import initialize_presidio
    from litellm.types.guardrails import LitellmParams

    (entry,) = yaml.safe_load(SNIPPET.format(port=port, parse=str(parse).lower()))["guardrails"]
    callbacks = initialize_presidio(LitellmParams(**entry["litellm_params"]), entry)
    try:
        data: dict[str, Any] = {"model": "openai/gpt-test", "messages": [{"role": "user", "content": MESSAGE}]}
        user = UserAPIKeyAuth()
        for cb in callbacks:
            hook = cb.async_pre_call_hook  # type: ignore[attr-defined]
            data = await hook(user_api_key_dict=user, cache=DualCache(), data=data, call_type="completion") or data
        response = await litellm.acompletion(
            model=data["model"], messages=data["messages"], api_base=upstream.url, api_key="sk-test-not-a-key"
        )
        for cb in callbacks:
            post = cb.async_post_call_success_hook  # type: ignore[attr-defined]
            response = await post(data=data, user_api_key_dict=user, response=response)
        return str(response.choices[0].message.content)
    finally:
        for cb in callbacks:
            litellm.logging_callback_manager.remove_callback_from_list_by_object(litellm.callbacks, cb)
            await cb._close_http_session()  # type: ignore[attr-defined]


async def test_litellm_masks_for_the_upstream(face: tuple[ProxyProcess, int], openai_upstream: OpenAIUpstream) -> None:
    """Without output_parse_pii the guardrail sends our /anonymize text: entity tags upstream."""
    _, port = face
    openai_upstream.received.clear()
    answer = await chat_through_guardrail(port, openai_upstream, parse=False)
    (sent,) = openai_upstream.received
    content = sent["messages"][-1]["content"]
    for raw in (NAME, MAIL, PHONE):
        assert raw not in content
    assert "<PERSON>" in content and "<EMAIL_ADDRESS>" in content and "<PHONE_NUMBER>" in content
    assert content.startswith("Hi, I am <PERSON>") and content.endswith("about my order.")
    assert NAME not in answer  # nothing to un-mask without output_parse_pii


async def test_litellm_output_parse_pii_unmasks_the_answer(
    face: tuple[ProxyProcess, int], openai_upstream: OpenAIUpstream
) -> None:
    proxy, port = face
    openai_upstream.received.clear()
    answer = await chat_through_guardrail(port, openai_upstream, parse=True)
    (sent,) = openai_upstream.received
    content = sent["messages"][-1]["content"]
    for raw in (NAME, MAIL, PHONE):
        assert raw not in content
    assert "<PERSON_" in content and "<EMAIL_ADDRESS_" in content and "<PHONE_NUMBER_" in content
    assert answer == f"Noted: {MESSAGE}"
    log = proxy.log()
    assert NAME not in log and MAIL not in log and PHONE not in log


def _children_of(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid:
                out.append(int(name))
    return out


async def test_litellm_fails_closed_on_our_503(face: tuple[ProxyProcess, int], openai_upstream: OpenAIUpstream) -> None:
    """Detection down: the face answers 503 (never an empty list), and LiteLLM's guardrail (with
    output_parse_pii, which makes it fail closed on an analyzer error) stops the call: nothing
    reaches the model."""
    from proxy.http.admin import detection_children

    proxy, port = face
    children = [c for cs in detection_children(set(_children_of(proxy.proc.pid))).values() for c in cs]
    assert children
    openai_upstream.received.clear()
    for c in children:
        os.kill(c, signal.SIGKILL)
    with pytest.raises(Exception) as info:
        await chat_through_guardrail(port, openai_upstream, parse=True)
    assert "503" in str(info.value) or "invalid response" in str(info.value)
    assert NAME not in str(info.value)
    assert openai_upstream.received == []
    deadline = time.monotonic() + 120  # the detection process comes back; so does the face
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(f"http://127.0.0.1:{port}/health") as r:
                    if r.status == 200:
                        break
            await asyncio.sleep(0.5)
    assert await chat_through_guardrail(port, openai_upstream, parse=True) == f"Noted: {MESSAGE}"
