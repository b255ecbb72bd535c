"""Every test run gets its own start-up cache (policy_engine.cache) and signing key, never the developer's
~/.cache or ~/.local/state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_start_up_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:  # os.environ: the CLI subprocesses inherit it too
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        mp.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        mp.delenv("POLICY_ENGINE_CACHE_KEY", raising=False)
        mp.delenv("POLICY_ENGINE_NO_CACHE", raising=False)
        yield
