"""The jsonl transport passes sfeventlog's public contract kit."""

from __future__ import annotations

from pathlib import Path

import pytest
from sfeventlog.testing import TransportContract

from sfeventlog_jsonl.testing import JsonlBackend


class TestJsonlContract(TransportContract):
    @pytest.fixture
    def contract_backend(self, tmp_path: Path) -> JsonlBackend:
        return JsonlBackend(tmp_path)
