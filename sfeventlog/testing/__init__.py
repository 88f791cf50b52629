"""Public contract kit for transport authors.

Opt-in (it is never auto-loaded as a pytest plugin).  In your test module::

    from sfeventlog.testing import ContractBackend, TransportContract

    class TestMyTransport(TransportContract):
        @pytest.fixture
        def contract_backend(self, tmp_path):
            return MyBackend(tmp_path)   # implements ContractBackend

See docs/writing-a-transport.md.
"""

from sfeventlog.testing.backend import ContractBackend, make_record
from sfeventlog.testing.contract import TransportContract

__all__ = ["ContractBackend", "TransportContract", "make_record"]
