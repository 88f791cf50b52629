"""Every bundled transport runs the public contract kit, unmodified."""

from __future__ import annotations

import pytest

from sfeventlog.testing import ContractBackend, TransportContract


class TestBundledTransports(TransportContract):
    @pytest.fixture
    def contract_backend(self, backend: ContractBackend) -> ContractBackend:
        return backend
