"""`langchain_lumos.testing` stays light: the demo environments load on first use."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
import langchain_lumos.testing as testing
from langchain_lumos.testing import ScriptedLLM, ScriptedChatModel
before = sorted(m for m in sys.modules if m.startswith("langchain_lumos.tools"))
shop = testing.InMemoryShop
from langchain_lumos.testing import StaticWebEnvironment, DEFAULT_GOALS
print(json.dumps({
    "before": before,
    "after": "langchain_lumos.tools.webshop" in sys.modules,
    "names": [shop.__module__, StaticWebEnvironment.__module__, len(DEFAULT_GOALS)],
    "all": sorted(n for n in testing.__all__ if not hasattr(testing, n)),
}))
"""


def test_importing_testing_does_not_import_the_tools() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["before"] == []  # the scripted models need no tool module
    assert result["after"] is True
    assert result["names"] == ["langchain_lumos.testing.shop", "langchain_lumos.testing.web", 3]
    assert result["all"] == []  # every exported name resolves


def test_unknown_attribute_is_an_attribute_error() -> None:
    import pytest

    import langchain_lumos.testing as testing

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = testing.Nope
