"""Model selection for LLM mode: `offline` (the default) or any `provider:model` chat model.

    AUTOPILOT_MODEL=offline                      the deterministic engine, no model at all
    AUTOPILOT_MODEL=openai:gpt-4.1               OPENAI_API_KEY (OPENAI_BASE_URL for vLLM, LiteLLM...)
    AUTOPILOT_MODEL=anthropic:claude-sonnet-4-5  ANTHROPIC_API_KEY
    AUTOPILOT_MODEL=ollama:llama3.1              OLLAMA_HOST (default http://127.0.0.1:11434)
    AUTOPILOT_PLANNER_MODEL / AUTOPILOT_GENERATOR_MODEL override it per swarm.

`load_model(swarm)` fails at startup, naming the missing variable or the unreachable endpoint,
so a misconfiguration never surfaces as a stack trace at the first request. LangSmith tracing
is on only when the standard LANGSMITH_TRACING and LANGSMITH_API_KEY are both set.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import (
    AutopilotError,
    EscalationNeeded,
    ModelCallError,
    ModelConfigError,
)
from shared.events import Swarm
from shared.models.workflow import ErrorCode

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableConfig

log = logging.getLogger(__name__)

OFFLINE = "offline"
REACHABILITY_TIMEOUT = 3.0

# provider -> (environment variables of which one must be set, the package that implements it)
PROVIDERS: dict[str, tuple[tuple[str, ...], str]] = {
    "openai": (("OPENAI_API_KEY",), "langchain-openai"),
    "anthropic": (("ANTHROPIC_API_KEY",), "langchain-anthropic"),
    "ollama": ((), "langchain-ollama"),
    "google_genai": (("GOOGLE_API_KEY", "GEMINI_API_KEY"), "langchain-google-genai"),
    "azure_openai": (("AZURE_OPENAI_API_KEY",), "langchain-openai"),
    "mistralai": (("MISTRAL_API_KEY",), "langchain-mistralai"),
    "groq": (("GROQ_API_KEY",), "langchain-groq"),
    "fireworks": (("FIREWORKS_API_KEY",), "langchain-fireworks"),
    "together": (("TOGETHER_API_KEY",), "langchain-together"),
    "deepseek": (("DEEPSEEK_API_KEY",), "langchain-deepseek"),
    "xai": (("XAI_API_KEY",), "langchain-xai"),
    "bedrock_converse": ((), "langchain-aws"),
}
EXAMPLES = "openai:gpt-4.1, anthropic:claude-sonnet-4-5, ollama:llama3.1"


class LLMSettings(BaseSettings):
    """Which chat model each swarm uses and how it is called."""

    model_config = SettingsConfigDict(
        env_prefix="AUTOPILOT_", extra="ignore", populate_by_name=True
    )

    model: str = Field(default=OFFLINE, description="'offline' or 'provider:model'.")
    planner_model: str | None = Field(default=None, description="Planner override of `model`.")
    generator_model: str | None = Field(default=None, description="Generator override of `model`.")
    temperature: float = Field(
        default=0.0,
        ge=0.0,
        le=2.0,
        validation_alias=AliasChoices(
            "AUTOPILOT_MODEL_TEMPERATURE", "model_temperature", "temperature"
        ),
    )
    timeout: float = Field(
        default=120.0,
        gt=0,
        validation_alias=AliasChoices("AUTOPILOT_MODEL_TIMEOUT", "model_timeout", "timeout"),
        description="Seconds per request.",
    )
    max_tokens: int | None = Field(
        default=8192,
        ge=1,
        validation_alias=AliasChoices(
            "AUTOPILOT_MODEL_MAX_TOKENS", "model_max_tokens", "max_tokens"
        ),
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=20,
        validation_alias=AliasChoices(
            "AUTOPILOT_MODEL_MAX_RETRIES", "model_max_retries", "max_retries"
        ),
        description="Client retries of 429s, timeouts and 5xx (with Retry-After).",
    )
    check_endpoint: bool = Field(
        default=True,
        validation_alias=AliasChoices("AUTOPILOT_MODEL_CHECK_ENDPOINT", "check_endpoint"),
        description="Probe base-URL providers (OpenAI-compatible, Ollama) at startup.",
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description="OpenAI-compatible server URL.",
    )

    def model_for(self, swarm: Swarm) -> str:
        """The model string a swarm uses: its override, else AUTOPILOT_MODEL."""
        return (self.override_for(swarm) or self.model).strip() or OFFLINE

    def override_for(self, swarm: Swarm) -> str | None:
        """The swarm's own model setting (AUTOPILOT_<SERVICE>_MODEL), if it has one."""
        return {Swarm.PLANNING: self.planner_model, Swarm.GENERATION: self.generator_model}.get(
            swarm
        )


def _variable(swarm: Swarm, settings: LLMSettings) -> str:
    """The environment variable the swarm's model string came from (for error messages)."""
    return (
        f"AUTOPILOT_{swarm.service.upper()}_MODEL"
        if settings.override_for(swarm)
        else "AUTOPILOT_MODEL"
    )


def split_model(spec: str, *, variable: str = "AUTOPILOT_MODEL") -> tuple[str, str]:
    """'provider:model' -> (provider, model), refusing anything else with the forms that work."""
    provider, sep, name = spec.partition(":")
    if not sep or not provider or not name:
        raise ModelConfigError(
            f"{spec!r} is not '{OFFLINE}' or 'provider:model' (e.g. {EXAMPLES})", field=variable
        )
    return provider.strip().lower(), name.strip()


def _env(name: str, environ: Mapping[str, str]) -> str | None:
    """A non-empty environment value."""
    value = environ.get(name, "").strip()
    return value or None


def _require_package(provider: str, variable: str) -> None:
    """The provider's integration package must be importable."""
    package = PROVIDERS.get(provider, ((), f"langchain-{provider}"))[1]
    if importlib.util.find_spec(package.replace("-", "_")) is None:
        raise ModelConfigError(
            f"provider {provider!r} needs the {package} package; install it "
            f"(uv pip install {package}) or choose another model",
            field=variable,
        )


def _require_credentials(provider: str, base_url: str | None, environ: Mapping[str, str]) -> None:
    """One of the provider's key variables must be set (OpenAI-compatible servers excepted)."""
    keys = PROVIDERS.get(provider, ((), ""))[0]
    if not keys or any(_env(k, environ) for k in keys):
        return
    if provider == "openai" and base_url:
        return  # vLLM, llama.cpp and friends usually take any key; we send a placeholder
    raise ModelConfigError(
        f"{' or '.join(keys)} is not set; the {provider} provider needs it "
        f"(or set AUTOPILOT_MODEL={OFFLINE} to use the offline engine)",
        field=keys[0],
    )


def check_reachable(url: str, variable: str, *, timeout: float = REACHABILITY_TIMEOUT) -> None:
    """Any HTTP answer from the endpoint will do; a refused or silent one is a startup error."""
    import httpx  # only a model with an endpoint to probe needs an HTTP client

    try:
        httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ModelConfigError(
            f"the model endpoint {url} is unreachable ({type(exc).__name__}: {exc}); "
            f"start the server or fix {variable}",
            field=variable,
            url=url,
        ) from exc


def _provider_kwargs(
    provider: str, settings: LLMSettings, environ: Mapping[str, str]
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """Constructor arguments for the provider, and the (url, variable) to probe, if any."""
    common: dict[str, Any] = {"temperature": settings.temperature}
    if provider == "ollama":
        base = (
            _env("OLLAMA_BASE_URL", environ)
            or _env("OLLAMA_HOST", environ)
            or "http://127.0.0.1:11434"
        )
        if not base.startswith(("http://", "https://")):
            base = f"http://{base}"
        kwargs = {**common, "base_url": base, "client_kwargs": {"timeout": settings.timeout}}
        if settings.max_tokens:
            kwargs["num_predict"] = settings.max_tokens
        return kwargs, (f"{base.rstrip('/')}/api/tags", "OLLAMA_HOST")
    common |= {"timeout": settings.timeout, "max_retries": settings.max_retries}
    if settings.max_tokens:
        common["max_tokens"] = settings.max_tokens
    if provider == "openai" and settings.openai_base_url:
        base = settings.openai_base_url.rstrip("/")
        common |= {
            "base_url": base,
            "api_key": _env("OPENAI_API_KEY", environ) or "not-needed",
            # Compatible servers speak chat completions; few implement the Responses API.
            "use_responses_api": False,
        }
        return common, (f"{base}/models", "OPENAI_BASE_URL")
    return common, None


def configure_tracing(environ: Mapping[str, str] | None = None) -> bool:
    """LangSmith tracing only with both LANGSMITH_TRACING and LANGSMITH_API_KEY; never required."""
    env = os.environ if environ is None else environ
    wanted = (_env("LANGSMITH_TRACING", env) or "").lower() in ("1", "true", "yes")
    if wanted and not _env("LANGSMITH_API_KEY", env):
        log.warning("LANGSMITH_TRACING is set but LANGSMITH_API_KEY is not; tracing stays off")
        if environ is None:
            os.environ["LANGSMITH_TRACING"] = "false"
        return False
    return wanted


def load_model(
    swarm: Swarm,
    settings: LLMSettings | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> BaseChatModel | None:
    """The swarm's chat model, or None for the offline engine; config errors raise here."""
    settings = settings or LLMSettings()
    spec = settings.model_for(swarm)
    if spec.lower() == OFFLINE:
        return None
    return init_model(spec, settings, environ=environ, variable=_variable(swarm, settings))


def init_model(
    spec: str,
    settings: LLMSettings | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    variable: str = "AUTOPILOT_MODEL",
) -> BaseChatModel:
    """A chat model for 'provider:model' with the settings applied, checked before first use."""
    from langchain.chat_models import init_chat_model

    settings = settings or LLMSettings()
    env = os.environ if environ is None else environ
    provider, name = split_model(spec, variable=variable)
    _require_package(provider, variable)
    kwargs, probe = _provider_kwargs(provider, settings, env)
    _require_credentials(provider, kwargs.get("base_url") if provider == "openai" else None, env)
    if probe and settings.check_endpoint:
        check_reachable(*probe)
    configure_tracing(environ)
    try:
        model: BaseChatModel = init_chat_model(name, model_provider=provider, **kwargs)
    except (ValueError, ImportError) as exc:
        raise ModelConfigError(f"cannot create {spec}: {exc}", field=variable) from exc
    return model


def classify_model_error(exc: BaseException) -> AutopilotError:
    """A provider exception as an AutopilotError whose code says retry, escalate or fail."""
    if isinstance(exc, AutopilotError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if name == "RateLimitError" or status == 429:
        code = ErrorCode.RATE_LIMIT
    elif name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        code = ErrorCode.PERMISSION
    elif name in (
        "APITimeoutError",
        "APIConnectionError",
        "InternalServerError",
        "ConnectError",
        "ReadTimeout",
        "TimeoutException",
    ) or (isinstance(status, int) and status >= 500):
        code = ErrorCode.TRANSIENT
    elif name in ("GraphRecursionError", "ModelCallLimitExceededError"):
        return EscalationNeeded(f"the model did not finish within its step budget: {exc}")
    else:
        code = ErrorCode.INVALID_OUTPUT
    return ModelCallError(f"model call failed ({name}): {exc}", code=code, error=name)


def run_config(
    *,
    workflow_id: str | None = None,
    swarm: Swarm | None = None,
    gate: str | None = None,
    recursion_limit: int = 100,
    **metadata: Any,
) -> RunnableConfig:
    """LangGraph run config with tracing metadata and tags (workflow id, swarm, gate)."""
    service = swarm.service if swarm else None
    meta = {
        k: v for k, v in {"workflow_id": workflow_id, "swarm": service, "gate": gate}.items() if v
    }
    meta |= metadata
    tags = [f"{k}:{v}" for k, v in meta.items() if k in ("workflow_id", "swarm", "gate")]
    config: RunnableConfig = {
        "recursion_limit": recursion_limit,
        "metadata": meta,
        "tags": ["autopilot", *tags],
    }
    if service:
        config["run_name"] = f"autopilot-{service}"
    return config
