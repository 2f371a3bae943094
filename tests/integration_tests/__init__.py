"""Integration tests: real subprocesses, servers, sandboxes, fine-tuning and real models.

Offline like the unit tests (loopback servers only); `make test` runs both suites. Tests that
need the internet are marked `network` and skipped unless `--run-network`; tests that load
the real SmolLM2 are marked `slow` (`make test-slow`).
"""
