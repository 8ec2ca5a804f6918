"""Entities of the e-learning area: the video links every signed-in user sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from roughcut.domain.commands import UNSET, Unset


@dataclass(frozen=True, slots=True)
class LearningLink:
    id: int
    url: str
    title: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpdateLearningLink:
    """Change a link's address or title; the ones left UNSET stay as they are."""

    link_id: int
    url: str | Unset = UNSET
    title: str | Unset = UNSET
