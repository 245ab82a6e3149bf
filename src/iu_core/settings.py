"""Where the database is: a URL given by the user, or the embedded server's data directory."""

from __future__ import annotations

import os
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

    @classmethod
    def from_env(cls) -> Settings:
        """The database ``iu-core`` would use with no options: its environment, else the embedded default."""
        url = os.environ.get(DATABASE_URL_ENV) or None
        data_dir = os.environ.get(DATA_DIR_ENV)
        return cls(url, Path(data_dir) if data_dir else default_data_dir())

    @property
    def embedded(self) -> bool:
        return self.database_url is None
