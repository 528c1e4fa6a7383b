"""The base every bus message derives from."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class BusMessage(BaseModel):
    """A message on the bus. Subclasses set `type` and `version` as Literal fields with defaults."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    version: int

    # Set by `__pydantic_init_subclass__` from the field defaults, so the bus can route without an instance.
    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 0

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: object) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        type_default = cls.model_fields["type"].default
        version_default = cls.model_fields["version"].default
        if isinstance(type_default, str) and isinstance(version_default, int):
            cls.TYPE = type_default
            cls.VERSION = version_default

    @classmethod
    def routing_key_for(cls) -> str:
        return f"{cls.TYPE}.v{cls.VERSION}"

    @property
    def routing_key(self) -> str:
        return f"{self.type}.v{self.version}"
