"""Room names, in one place."""

from __future__ import annotations

PROJECTS_NAMESPACE = "/projects"
ROOT_NAMESPACE = "/"


def user_room(user_id: int) -> str:
    """Every socket of a user."""
    return f"user:{user_id}"


def session_room(session_id: int) -> str:
    """Every socket opened with tokens of one login session."""
    return f"session:{session_id}"


def member_of(room: str) -> int | None:
    """The user a member room (`member_room`) belongs to; None for any other room."""
    kind, _, rest = room.partition(":")
    _, _, user = rest.partition(":user:")
    return int(user) if kind == "project" and user.isdigit() else None


def member_room(project_id: int, user_id: int) -> str:
    """One member's sockets subscribed to one project.

    Events go to the rooms of the members at publish time, so a removed member's sockets stop
    receiving at once, and the room is closed on every node.
    """
    return f"project:{project_id}:user:{user_id}"


CHAT_NAMESPACE = "/chat"


def chat_room(feedback_id: int, user_id: int) -> str:
    """One member's sockets in one thread's chat; messages go to the rooms of the thread's members."""
    return f"chat:{feedback_id}:user:{user_id}"


PRESENCE_NAMESPACE = "/presence"
UPLOADS_NAMESPACE = "/uploads"  # no rooms: progress goes out on /projects to member rooms


def presence_room(project_id: int, user_id: int) -> str:
    """One member's sockets watching one project's presence; changes go to the rooms of its members."""
    return f"presence:{project_id}:user:{user_id}"


def watching_room(feedback_id: int, user_id: int) -> str:
    """One member's sockets watching who watches one feedback thread (a review)."""
    return f"watching:{feedback_id}:user:{user_id}"
