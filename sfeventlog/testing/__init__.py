"""Public contract kit for transport authors.

Opt-in (it is never auto-loaded as a pytest plugin).  In your test module::

    from sfeventlog.testing import ContractBackend, TransportContract

    class TestMyTransport(TransportContract):
        @pytest.fixture
        def contract_backend(self, tmp_path):
            return MyBackend(tmp_path)   # implements ContractBackend

A backend declares the requirements it meets (``Requirement``); a kit test
that needs an unmet one is skipped with the backend's reason. Run
``sfeventlog docs writing-a-transport`` for the guide.
"""

from sfeventlog.testing.backend import ContractBackend, make_record
from sfeventlog.testing.contract import TransportContract, io_at_construction
from sfeventlog.testing.mock import Delivery, MockTransport
from sfeventlog.testing.requirements import Requirement, require

__all__ = ["ContractBackend", "Delivery", "MockTransport", "Requirement", "TransportContract", "io_at_construction",
           "make_record", "require"]
