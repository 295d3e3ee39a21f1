"""Quarantine's settings: size limits (SPEC 5) and the limits that stop archive bombs."""

from __future__ import annotations

from mailintake_common.cpus import available_cpus
from mailintake_common.settings import CommonSettings, MiB


class QuarantineSettings(CommonSettings):
    # An email over this many bytes in total goes to manual adjustment (SPEC 5: 8 MB)
    email_limit_bytes: int = 8 * MiB
    # Any attachment (or scan file) over this many bytes goes to manual adjustment (SPEC 5: 4 MB)
    attachment_limit_bytes: int = 4 * MiB
    # Deepest nesting of archives and attached emails that is opened; deeper is quarantined
    archive_max_depth: int = 3
    # Most files inside one item's archives; more is quarantined as a possible bomb
    archive_max_files: int = 1000
    # Most bytes all archives of one item may expand to; more is quarantined as a bomb
    archive_max_total_bytes: int = 200 * MiB
    # Most bytes one archive member may declare or expand to; more is quarantined as a bomb
    archive_max_member_bytes: int = 64 * MiB
    # Highest expanded/compressed ratio of an archive member before it counts as a bomb
    archive_max_ratio: float = 100.0
    # Images whose header declares more pixels than this are refused before decoding
    image_max_pixels: int = 100_000_000
    # Worker processes that screen items, one item each at a time (0: one per CPU the cgroup CPU quota grants)
    screening_workers: int = 0
    # Address space each screening worker may use, in bytes (RLIMIT_AS); 0 for no limit
    screening_memory_bytes: int = 2048 * MiB
    # Longest screening one item may take; its worker is then killed and the try counts as a worker failure
    screening_timeout_s: float = 300.0

    def screening_pool_size(self) -> int:
        return self.screening_workers or available_cpus()
