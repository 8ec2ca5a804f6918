"""Global sample files: templates every signed-in user sees on project create and edit.

Administrators add them through the upload flow (purpose `sample_file`, no project) and remove them here;
imported ones (the old system's `sample_file/...` objects) are listed beside them. An object is deleted
only after its row's deletion commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from roughcut.domain import errors
from roughcut.domain.learning import require_admin
from roughcut.domain.transactions import writes
from roughcut.domain.upload_model import SampleFile
from roughcut.domain.uploads import Uploads

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedSample:
    sample: SampleFile
    url: str


async def list_samples(deps: Uploads) -> list[SignedSample]:
    """Every sample file with a short-lived download URL; any signed-in user."""
    async with deps.uow() as uow:
        found = await uow.samples.list()
    ttl = deps.policy.url_ttl
    return [SignedSample(f, await deps.blobs.sign_get(f.key, expires_in=ttl, filename=f.filename)) for f in found]


async def delete_sample(deps: Uploads, user_id: int, sample_id: int) -> None:
    """An administrator removes an uploaded sample file; its object goes after the commit."""
    sample = await _delete_row(deps, user_id, sample_id)
    try:
        await deps.blobs.delete(sample.key)
    except Exception:
        log.exception("sample file object not deleted", extra={"sample_id": sample_id})


@writes
async def _delete_row(deps: Uploads, user_id: int, sample_id: int) -> SampleFile:
    async with deps.uow() as uow:
        await require_admin(uow, user_id)
        sample = await uow.samples.get(sample_id)
        if sample is None:
            raise errors.NotFound("No such sample file.")
        await uow.samples.delete(sample_id)
        await uow.commit()
    return sample
