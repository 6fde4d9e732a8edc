"""What every dataset spec shares: canonical JSON, a fingerprint, and loading back from a dict."""

import hashlib
import json
from dataclasses import asdict, fields
from typing import Self

from datagen import GENERATOR_VERSION
from zsdist.base.errors import ConfigError


class SpecSerialisation:
    """Mixed into the frozen spec dataclasses (PolarSpec, FontsSpec)."""

    def to_dict(self) -> dict:
        """JSON-able parameters (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    def to_json(self) -> str:
        """Canonical JSON of to_dict(): sorted keys, no spaces."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def fingerprint(self) -> str:
        """sha256 hex of the canonical spec JSON plus the generator version."""
        payload = json.dumps(
            {"generator": GENERATOR_VERSION, "spec": self.to_dict()}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        """The spec of a to_dict() result; unknown keys raise ConfigError."""
        known = {field.name for field in fields(cls)}
        if unknown := sorted(set(data) - known):
            raise ConfigError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}: use only {', '.join(sorted(known))}")
        return cls(**data)
