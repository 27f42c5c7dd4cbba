"""Typed events of OpenCode's `GET /global/event` stream.

Each frame is `{"directory", "project", "payload": {"id", "type", "properties"}}`.
`parse_global_event` turns one into a `GlobalEvent` whose `event` is one model per
type we use; other types become `UnknownEvent` (kept, never fatal), and so does a
known type whose payload no longer fits its model.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, TypeVar

from pydantic import Field, ValidationError

from ensemble_tui.opencode.models import (
    BusyStatus,
    IdleStatus,
    Message,
    MessageError,
    OpenCodeModel,
    Part,
    PermissionRequest,
    QuestionRequest,
    Session,
    SessionStatus,
    Todo,
)

log = logging.getLogger(__name__)


class Event(OpenCodeModel):
    """Base of every event; `TYPE` is the wire name it is parsed from."""

    TYPE: ClassVar[str] = ""
    id: str | None = None
    type: str = ""


class UnknownEvent(Event):
    """An event type we do not use, kept with its raw properties."""

    properties: dict[str, Any] = Field(default_factory=dict)


class ServerConnected(Event):
    TYPE = "server.connected"


class ServerHeartbeat(Event):
    TYPE = "server.heartbeat"


class InstanceDisposed(Event):
    TYPE = "server.instance.disposed"
    directory: str = ""


class SessionEvent(Event):
    """An event about one session."""

    session_id: str = Field(alias="sessionID")


class SessionCreated(SessionEvent):
    TYPE = "session.created"
    info: Session


class SessionUpdated(SessionEvent):
    TYPE = "session.updated"
    info: Session


class SessionDeleted(SessionEvent):
    TYPE = "session.deleted"
    info: Session


class SessionStatusChanged(SessionEvent):
    TYPE = "session.status"
    status: SessionStatus


class SessionCompacted(SessionEvent):
    """OpenCode summarized the session's conversation (asked for, or on its own)."""

    TYPE = "session.compacted"


class SessionIdle(SessionEvent):
    TYPE = "session.idle"


class SessionErrored(Event):
    TYPE = "session.error"
    session_id: str | None = Field(default=None, alias="sessionID")
    error: MessageError | None = None


class SessionDiffChanged(SessionEvent):
    TYPE = "session.diff"
    diff: list[dict[str, Any]] = Field(default_factory=list)


class MessageUpdated(SessionEvent):
    TYPE = "message.updated"
    info: Message


class MessageRemoved(SessionEvent):
    TYPE = "message.removed"
    message_id: str = Field(alias="messageID")


class PartUpdated(SessionEvent):
    TYPE = "message.part.updated"
    part: Part


class PartDelta(SessionEvent):
    """A piece of streamed text (or reasoning) for one part."""

    TYPE = "message.part.delta"
    message_id: str = Field(alias="messageID")
    part_id: str = Field(alias="partID")
    field: str = "text"
    delta: str = ""


class PartRemoved(SessionEvent):
    TYPE = "message.part.removed"
    message_id: str = Field(alias="messageID")
    part_id: str = Field(alias="partID")


class PermissionAsked(Event):
    TYPE = "permission.asked"
    request: PermissionRequest


class PermissionReplied(SessionEvent):
    TYPE = "permission.replied"
    request_id: str = Field(alias="requestID")
    reply: str = ""


class QuestionAsked(Event):
    TYPE = "question.asked"
    request: QuestionRequest


class QuestionReplied(SessionEvent):
    TYPE = "question.replied"
    request_id: str = Field(alias="requestID")
    answers: list[list[str]] = Field(default_factory=list)


class QuestionRejected(SessionEvent):
    TYPE = "question.rejected"
    request_id: str = Field(alias="requestID")


class TodoUpdated(SessionEvent):
    TYPE = "todo.updated"
    todos: list[Todo] = Field(default_factory=list)


class FileEdited(Event):
    TYPE = "file.edited"
    file: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        ServerConnected,
        ServerHeartbeat,
        InstanceDisposed,
        SessionCreated,
        SessionUpdated,
        SessionDeleted,
        SessionStatusChanged,
        SessionIdle,
        SessionCompacted,
        SessionErrored,
        SessionDiffChanged,
        MessageUpdated,
        MessageRemoved,
        PartUpdated,
        PartDelta,
        PartRemoved,
        PermissionAsked,
        PermissionReplied,
        QuestionAsked,
        QuestionReplied,
        QuestionRejected,
        TodoUpdated,
        FileEdited,
    )
}

_DELTA = PartDelta.TYPE

# Requests arrive as the whole properties object; older servers say `permission.updated`.
_REQUEST_EVENTS = {"permission.asked", "permission.updated", "question.asked"}
_ALIASES = {"permission.updated": "permission.asked"}


class GlobalEvent(OpenCodeModel):
    """One frame of `/global/event`: where it happened and what."""

    directory: str | None = None
    project: str | None = None
    event: Event


_Trusted = TypeVar("_Trusted", bound=OpenCodeModel)
_set = object.__setattr__
_new = object.__new__
_DELTA_FIELDS = frozenset(PartDelta.model_fields)
_DELTA_FIELDS_SET = set(_DELTA_FIELDS)


def _trusted(
    model: type[_Trusted], values: dict[str, Any], names: frozenset[str] | None = None
) -> _Trusted:
    """A model from values already checked, every field given (*names*, if known, are
    their keys): what `model_construct` does, without its per-field walk (it is a third
    of a delta's cost otherwise)."""
    built = _new(model)
    _set(built, "__dict__", values)
    _set(built, "__pydantic_fields_set__", set(names if names is not None else values))
    _set(built, "__pydantic_extra__", {})
    _set(built, "__pydantic_private__", None)
    return built


def _fast_delta(event_id: Any, properties: dict[str, Any]) -> PartDelta | None:
    """A delta built without validation once its five fields are checked to be strings.

    Every streamed token is one delta, so this is most of the stream; anything odd falls
    back to full validation. Extra fields are dropped: nothing reads them.
    """
    get = properties.get
    session_id, message_id, part_id = get("sessionID"), get("messageID"), get("partID")
    field, delta = get("field"), get("delta")
    if (
        type(session_id) is not str
        or type(message_id) is not str
        or type(part_id) is not str
        or type(field) is not str
        or type(delta) is not str
    ):
        return None
    # `_trusted` inlined: one call less on every streamed token.
    built = _new(PartDelta)
    _set(
        built,
        "__dict__",
        {
            "id": event_id if type(event_id) is str else None,
            "type": _DELTA,
            "session_id": session_id,
            "message_id": message_id,
            "part_id": part_id,
            "field": field,
            "delta": delta,
        },
    )
    # One set shared by every delta: it names every field, so pydantic's only change to
    # it (adding a field assigned to) changes nothing, and no delta costs a set.
    _set(built, "__pydantic_fields_set__", _DELTA_FIELDS_SET)
    _set(built, "__pydantic_extra__", {})
    _set(built, "__pydantic_private__", None)
    return built


_STATUS = SessionStatusChanged.TYPE
_STATUS_FIELDS = frozenset(("id", "type", "session_id", "status"))
# A busy or idle status without other fields, built once: it is never changed.
_PLAIN_STATUSES: dict[Any, SessionStatus] = {
    "busy": BusyStatus.model_validate({"type": "busy"}),
    "idle": IdleStatus.model_validate({"type": "idle"}),
}


def _fast_status(event_id: Any, properties: dict[str, Any]) -> SessionStatusChanged | None:
    """A session going busy or idle, as OpenCode says it (`{"sessionID", "status":
    {"type"}}`, nothing more), built without validation: two of every turn's frames.
    Any other shape (a retry, an extra field) falls back to full validation."""
    status = properties.get("status")
    session_id = properties.get("sessionID")
    if (
        type(session_id) is not str
        or type(status) is not dict
        or len(properties) != 2
        or len(status) != 1
        or (event_id is not None and type(event_id) is not str)
    ):
        return None
    plain = _PLAIN_STATUSES.get(status.get("type"))
    if plain is None:
        return None
    values = {"id": event_id, "type": _STATUS, "session_id": session_id, "status": plain}
    return _trusted(SessionStatusChanged, values, _STATUS_FIELDS)


def _unknown(event_id: Any, wire_type: str, properties: dict[str, Any]) -> UnknownEvent:
    """Kept as it came, unvalidated: most types are ones we never read."""
    fields = {
        "id": event_id if isinstance(event_id, str) else None,
        "type": wire_type,
        "properties": properties,
    }
    return _trusted(UnknownEvent, fields)


def parse_event(payload: dict[str, Any]) -> Event:
    """Parse one event payload (`{"id", "type", "properties"}`) into its typed model."""
    wire_type = payload.get("type", "")
    if not isinstance(wire_type, str):
        wire_type = str(wire_type)
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    if wire_type == _DELTA and (fast := _fast_delta(payload.get("id"), properties)):
        return fast
    if wire_type == _STATUS and (status := _fast_status(payload.get("id"), properties)):
        return status
    event_type = _ALIASES.get(wire_type, wire_type)
    model = EVENT_TYPES.get(event_type)
    if model is None:
        return _unknown(payload.get("id"), wire_type, properties)
    fields: dict[str, Any] = {"id": payload.get("id"), "type": event_type}
    if wire_type in _REQUEST_EVENTS:
        fields["request"] = properties
    else:
        fields.update(properties)
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        log.warning("OpenCode event %s did not match its model: %s", wire_type, error)
        return _unknown(payload.get("id"), wire_type, properties)


def parse_frame_event(frame: dict[str, Any]) -> Event | None:
    """The event of one `/global/event` frame, without where it happened (what the
    coordinator reads: it is told the session, not the directory); None as for
    `parse_global_event`."""
    payload = frame.get("payload")
    if not isinstance(payload, dict):
        return None
    wire_type = payload.get("type")
    if wire_type == _DELTA:
        # Checked first: most frames are streamed tokens.
        properties = payload.get("properties")
        if type(properties) is dict and (fast := _fast_delta(payload.get("id"), properties)):
            return fast
    elif wire_type == "sync":
        return None
    return parse_event(payload)


def parse_global_event(frame: dict[str, Any]) -> GlobalEvent | None:
    """Parse one `/global/event` frame; None for `sync` duplicates and malformed frames."""
    event = parse_frame_event(frame)
    if event is None:
        return None
    directory = frame.get("directory")
    project = frame.get("project")
    # Both fields are checked here, and the event is already a model: no need to validate.
    fields = {
        "directory": directory if isinstance(directory, str) else None,
        "project": project if isinstance(project, str) else None,
        "event": event,
    }
    return _trusted(GlobalEvent, fields)
