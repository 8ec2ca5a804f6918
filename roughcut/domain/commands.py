"""What partial-update commands share: the `UNSET` marker of a field not given, and `given` to read the rest.

A command's fields that default to `UNSET` are the optional changes; `None` is a value like any other
("given as null"). The fields without a default name what the command acts on.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class Unset(enum.Enum):
    """The type of `UNSET`; one member, so `x is not UNSET` narrows `T | Unset` to `T`."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


def given(command: DataclassInstance) -> dict[str, Any]:
    """The optional fields of a command that the caller gave, by name."""
    return {
        f.name: value
        for f in dataclasses.fields(command)
        if f.default is UNSET and (value := getattr(command, f.name)) is not UNSET
    }
