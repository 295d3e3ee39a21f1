"""Apply database migrations: `python -m mailintake_common.migrate [DATABASE_URL]`.

The shared tables are the `common` branch; each installed service adds its own branch from
`mailintake_<service>/migrations/versions`, so a service owns its tables yet one command
upgrades everything (`alembic upgrade heads`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from mailintake_common.settings import CommonSettings

SERVICES = ("intake", "quarantine", "classifier", "routing")


def version_locations() -> list[str]:
    here = Path(__file__).parent / "migrations" / "versions"
    found = [str(here)]
    for service in SERVICES:
        spec = importlib.util.find_spec(f"mailintake_{service}")
        if spec and spec.submodule_search_locations:
            for root in spec.submodule_search_locations:
                versions = Path(root) / "migrations" / "versions"
                if versions.is_dir():
                    found.append(str(versions))
    return found


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("version_locations", " ".join(version_locations()))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, target: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), target)


def downgrade(database_url: str, target: str = "base") -> None:
    command.downgrade(alembic_config(database_url), target)


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else CommonSettings().database_url
    upgrade(url)
    print("migrations applied")


if __name__ == "__main__":
    main()
