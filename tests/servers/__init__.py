"""Real servers the test suite starts for itself (never a shared system one)."""
