"""Content-addressed blob store: content is stored once under its sha256.

Events carry a `BlobRef` (sha256, size, media type), never the content. PostgreSQL is
the default store so a blob commits in the same transaction as the document that names it.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.events import BlobRef
from mailintake_common.tables import blobs


class BlobNotFound(LookupError):
    pass


def blob_ref(content: bytes, media_type: str) -> BlobRef:
    return BlobRef(sha256=hashlib.sha256(content).hexdigest(), size=len(content), media_type=media_type)


class BlobStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def put(self, content: bytes, media_type: str = "application/octet-stream") -> BlobRef:
        ref = blob_ref(content, media_type)
        await self._conn.execute(
            insert(blobs)
            .values(sha256=ref.sha256, size=ref.size, media_type=media_type, content=content)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
        return ref

    async def get(self, ref: BlobRef | str) -> bytes:
        sha = ref if isinstance(ref, str) else ref.sha256
        row = (await self._conn.execute(select(blobs.c.content).where(blobs.c.sha256 == sha))).first()
        if row is None:
            raise BlobNotFound(sha)
        return bytes(row.content)

    async def delete(self, ref: BlobRef | str) -> bool:
        """Remove the content (records disposal, retention.py); False when it was not there.

        Refused by the database (IntegrityError) while any document is linked to the blob.
        """
        sha = ref if isinstance(ref, str) else ref.sha256
        return bool((await self._conn.execute(delete(blobs).where(blobs.c.sha256 == sha))).rowcount)
