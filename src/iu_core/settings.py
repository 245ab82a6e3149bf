"""Where the database is: a URL given by the user, or the embedded server's data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

DATABASE_URL_ENV = "IU_CORE_DATABASE_URL"
DATA_DIR_ENV = "IU_CORE_DATA_DIR"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("iu-core", appauthor=False)) / "pgdata"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    data_dir: Path

    @property
    def embedded(self) -> bool:
        return self.database_url is None
