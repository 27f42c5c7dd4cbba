"""Typed models of OpenCode's JSON: sessions, messages, parts, statuses, requests.

Every model allows extra fields (OpenCode adds fields often) and every union has a
fallback variant, so a new part or status type is kept, never fatal.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class OpenCodeModel(BaseModel):
    """Base of every OpenCode payload: unknown fields are kept, names by alias or field."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _tag_of(field: str, known: frozenset[str]) -> Any:
    """Build a discriminator that maps unknown tags to the "unknown" variant."""

    def discriminate(value: Any) -> str:
        tag = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
        return tag if tag in known else "unknown"

    return Discriminator(discriminate)


# Health and sessions


class Health(OpenCodeModel):
    healthy: bool = False
    version: str = ""


class ModelRef(OpenCodeModel):
    """A model as prompts name it: provider and model id."""

    provider_id: str = Field(alias="providerID")
    model_id: str = Field(alias="modelID")

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse "provider/model" (the model id may itself contain slashes)."""
        provider, sep, model = text.partition("/")
        if not sep or not provider or not model:
            raise ValueError(f"a model is written provider/model, not {text!r}")
        return cls(provider_id=provider, model_id=model)

    def __str__(self) -> str:
        return f"{self.provider_id}/{self.model_id}"


class Tokens(OpenCodeModel):
    input: int = 0
    output: int = 0
    reasoning: int = 0
    total: int | None = None


class SessionTime(OpenCodeModel):
    created: int = 0
    updated: int = 0


class PermissionRule(OpenCodeModel):
    permission: str
    pattern: str
    action: Literal["allow", "deny", "ask"]


class Session(OpenCodeModel):
    id: str
    directory: str
    title: str = ""
    parent_id: str | None = Field(default=None, alias="parentID")
    project_id: str | None = Field(default=None, alias="projectID")
    agent: str | None = None
    version: str | None = None
    cost: float = 0.0
    tokens: Tokens | None = None
    permission: list[PermissionRule] | None = None
    time: SessionTime = Field(default_factory=SessionTime)


# Session status


class IdleStatus(OpenCodeModel):
    type: Literal["idle"] = "idle"


class BusyStatus(OpenCodeModel):
    type: Literal["busy"] = "busy"


class RetryStatus(OpenCodeModel):
    type: Literal["retry"] = "retry"
    attempt: int = 0
    message: str = ""
    next: int | None = None


class UnknownStatus(OpenCodeModel):
    type: str = "unknown"


SessionStatus = Annotated[
    Annotated[IdleStatus, Tag("idle")]
    | Annotated[BusyStatus, Tag("busy")]
    | Annotated[RetryStatus, Tag("retry")]
    | Annotated[UnknownStatus, Tag("unknown")],
    _tag_of("type", frozenset({"idle", "busy", "retry"})),
]


# Tool states


class Span(OpenCodeModel):
    """Start and end times (epoch ms) of a tool run or a streamed part."""

    start: int | None = None
    end: int | None = None


class ToolPending(OpenCodeModel):
    status: Literal["pending"] = "pending"
    input: dict[str, Any] = Field(default_factory=dict)


class ToolRunning(OpenCodeModel):
    status: Literal["running"] = "running"
    input: dict[str, Any] = Field(default_factory=dict)
    title: str | None = None
    time: Span = Field(default_factory=Span)


class ToolCompleted(OpenCodeModel):
    status: Literal["completed"] = "completed"
    input: dict[str, Any] = Field(default_factory=dict)
    output: str = ""
    title: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    time: Span = Field(default_factory=Span)


class ToolFailed(OpenCodeModel):
    status: Literal["error"] = "error"
    input: dict[str, Any] = Field(default_factory=dict)
    error: str = ""
    time: Span = Field(default_factory=Span)


class ToolUnknown(OpenCodeModel):
    status: str = "unknown"


ToolState = Annotated[
    Annotated[ToolPending, Tag("pending")]
    | Annotated[ToolRunning, Tag("running")]
    | Annotated[ToolCompleted, Tag("completed")]
    | Annotated[ToolFailed, Tag("error")]
    | Annotated[ToolUnknown, Tag("unknown")],
    _tag_of("status", frozenset({"pending", "running", "completed", "error"})),
]


# Parts


class PartBase(OpenCodeModel):
    id: str = ""
    session_id: str = Field(default="", alias="sessionID")
    message_id: str = Field(default="", alias="messageID")


class TextPart(PartBase):
    type: Literal["text"] = "text"
    text: str = ""
    synthetic: bool = False
    time: Span = Field(default_factory=Span)


class ReasoningPart(PartBase):
    type: Literal["reasoning"] = "reasoning"
    text: str = ""
    time: Span = Field(default_factory=Span)


class ToolPart(PartBase):
    type: Literal["tool"] = "tool"
    call_id: str = Field(default="", alias="callID")
    tool: str = ""
    state: ToolState = Field(default_factory=ToolPending)


class StepStartPart(PartBase):
    type: Literal["step-start"] = "step-start"
    snapshot: str | None = None


class StepFinishPart(PartBase):
    type: Literal["step-finish"] = "step-finish"
    reason: str = ""
    cost: float = 0.0
    tokens: Tokens = Field(default_factory=Tokens)


class FilePart(PartBase):
    type: Literal["file"] = "file"
    mime: str = ""
    filename: str | None = None
    url: str = ""


class PatchPart(PartBase):
    type: Literal["patch"] = "patch"
    hash: str = ""
    files: list[str] = Field(default_factory=list)


class CompactionPart(PartBase):
    """The marker OpenCode leaves where it summarized the conversation before it."""

    type: Literal["compaction"] = "compaction"
    auto: bool = False
    overflow: bool = False


class UnknownPart(PartBase):
    type: str = "unknown"


Part = Annotated[
    Annotated[TextPart, Tag("text")]
    | Annotated[ReasoningPart, Tag("reasoning")]
    | Annotated[ToolPart, Tag("tool")]
    | Annotated[StepStartPart, Tag("step-start")]
    | Annotated[StepFinishPart, Tag("step-finish")]
    | Annotated[FilePart, Tag("file")]
    | Annotated[PatchPart, Tag("patch")]
    | Annotated[CompactionPart, Tag("compaction")]
    | Annotated[UnknownPart, Tag("unknown")],
    _tag_of(
        "type",
        frozenset(
            {
                "text",
                "reasoning",
                "tool",
                "step-start",
                "step-finish",
                "file",
                "patch",
                "compaction",
            }
        ),
    ),
]


# Messages


class MessageError(OpenCodeModel):
    """An error attached to an assistant message or a `session.error` event."""

    name: str = "UnknownError"
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(self.data.get("message") or self.name)


class MessageTime(OpenCodeModel):
    created: int = 0
    completed: int | None = None


class UserMessage(OpenCodeModel):
    id: str
    session_id: str = Field(alias="sessionID")
    role: Literal["user"] = "user"
    agent: str | None = None
    model: ModelRef | None = None
    time: MessageTime = Field(default_factory=MessageTime)


class AssistantMessage(OpenCodeModel):
    id: str
    session_id: str = Field(alias="sessionID")
    role: Literal["assistant"] = "assistant"
    parent_id: str | None = Field(default=None, alias="parentID")
    agent: str | None = None
    model_id: str | None = Field(default=None, alias="modelID")
    provider_id: str | None = Field(default=None, alias="providerID")
    cost: float = 0.0
    tokens: Tokens = Field(default_factory=Tokens)
    finish: str | None = None
    error: MessageError | None = None
    time: MessageTime = Field(default_factory=MessageTime)


class UnknownMessage(OpenCodeModel):
    id: str = ""
    session_id: str = Field(default="", alias="sessionID")
    role: str = "unknown"


Message = Annotated[
    Annotated[UserMessage, Tag("user")]
    | Annotated[AssistantMessage, Tag("assistant")]
    | Annotated[UnknownMessage, Tag("unknown")],
    _tag_of("role", frozenset({"user", "assistant"})),
]


class MessageWithParts(OpenCodeModel):
    """One entry of `GET /session/{id}/message`."""

    info: Message
    parts: list[Part] = Field(default_factory=list)


# Diffs, todos, requests, MCP


class FileDiff(OpenCodeModel):
    file: str
    patch: str = ""
    additions: int = 0
    deletions: int = 0
    status: str | None = None


class Todo(OpenCodeModel):
    content: str
    status: str = "pending"
    priority: str = "medium"


class ToolRef(OpenCodeModel):
    message_id: str = Field(alias="messageID")
    call_id: str = Field(alias="callID")


class PermissionRequest(OpenCodeModel):
    """A tool asking for permission (`permission.asked`, `GET /permission`)."""

    id: str
    session_id: str = Field(alias="sessionID")
    permission: str
    patterns: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    always: list[str] = Field(default_factory=list)
    tool: ToolRef | None = None


class QuestionOption(OpenCodeModel):
    label: str
    description: str = ""


class QuestionInfo(OpenCodeModel):
    question: str
    header: str = ""
    options: list[QuestionOption] = Field(default_factory=list)
    multiple: bool = False
    custom: bool = True


class QuestionRequest(OpenCodeModel):
    """An agent asking the user something (`question.asked`, `GET /question`)."""

    id: str
    session_id: str = Field(alias="sessionID")
    questions: list[QuestionInfo] = Field(default_factory=list)
    tool: ToolRef | None = None


class McpStatus(OpenCodeModel):
    """The state of one MCP server for a directory (`connected`, `failed`, ...)."""

    status: str
    error: str | None = None


class Agent(OpenCodeModel):
    """One of the server's agents (`GET /agent`); hidden ones are OpenCode's own helpers."""

    name: str
    mode: str = "primary"
    hidden: bool | None = None


class Provider(OpenCodeModel):
    """A configured provider and its models, keyed by model id (`GET /config/providers`)."""

    id: str
    name: str = ""
    models: dict[str, Any] = Field(default_factory=dict)


class Providers(OpenCodeModel):
    """`GET /config/providers`: the usable providers and each one's default model id."""

    providers: list[Provider] = Field(default_factory=list)
    default: dict[str, str] = Field(default_factory=dict)


class ProviderCatalogue(OpenCodeModel):
    """`GET /provider`, without its long `all` list: which providers are connected."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    connected: list[str] = Field(default_factory=list)
    default: dict[str, str] = Field(default_factory=dict)


class ServerConfig(OpenCodeModel):
    """The parts of `GET /config` ensemble-tui reads: the configured default model."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    model: str | None = None


PermissionReply = Literal["once", "always", "reject"]
