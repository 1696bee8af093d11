"""The plugin registry: discovery through entry points, typed lookups, and every way a plugin can
be broken (fails to import, raises in its hook, wrong base class, no PLUGIN_NAME, a name clash, a
misspelt hook) without breaking the plugins around it.

Third-party distributions are real: the sample plugin under tests/fixtures (installed by
`make install`), and throwaway ``*.dist-info`` folders written on sys.path by ``make_dist``. The
built-in entry points are never relied on, since other adapters may or may not exist yet.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, Iterator

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import verifily_core.testing
from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample
from verifily_core.domain.training import TrainCallbacks, TrainRequest
from verifily_core.errors import PluginError, UnknownPluginError
from verifily_core.plugins import DISABLE_ENV, PluginRegistry, hookimpl, registry
from verifily_core.ports import ModelBackend, Tracker
from verifily_core.testing import RecordingTracker, ScriptedModelBackend

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "verifily-sample-plugin"
SAMPLE_META = tomllib.loads((SAMPLE_DIR / "pyproject.toml").read_text())["project"]
SAMPLE_DIST = SAMPLE_META["name"]
SAMPLE_EP = next(iter(SAMPLE_META["entry-points"]["verifily"]))
NO_ENTRY_POINTS = "verifily.tests.no-such-group"


@pytest.fixture(scope="session")
def sample_plugin() -> metadata.Distribution:
    """The fixture plugin, installed the way the Makefile does it if this environment lacks it."""
    try:
        return metadata.distribution(SAMPLE_DIST)
    except metadata.PackageNotFoundError:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-build-isolation",
                "--no-deps",
                "-e",
                str(SAMPLE_DIR),
            ],
            check=True,
        )
        # the editable install's .pth is read at start-up only: make its src folder importable now
        sys.path.append(str(SAMPLE_DIR / "src"))
        return metadata.distribution(SAMPLE_DIST)


@pytest.fixture
def empty() -> PluginRegistry:
    """A registry that discovers nothing, for plugins registered by the test itself."""
    return PluginRegistry(group=NO_ENTRY_POINTS)


MakeDist = Callable[[str, Dict[str, str]], Dict[str, str]]


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeDist]:
    """Install a throwaway distribution: ``{entry point name: module source}`` -> module names."""
    created = []

    def make(dist: str, plugins: Dict[str, str], group: str = NO_ENTRY_POINTS) -> Dict[str, str]:
        modules = {ep: f"verifily_test_{ep.replace('-', '_')}_{uuid.uuid4().hex[:8]}" for ep in plugins}
        for ep, source in plugins.items():
            (tmp_path / f"{modules[ep]}.py").write_text(textwrap.dedent(source))
            created.append(modules[ep])
        info = tmp_path / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(
            f"[{group}]\n" + "".join(f"{ep} = {mod}\n" for ep, mod in modules.items())
        )
        return modules

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in created:
        sys.modules.pop(name, None)


BACKEND_HOOK = """
from verifily_core.plugins import hookimpl
from verifily_core.ports import ModelBackend
from verifily_core.testing import ScriptedModelBackend

class {cls}({base}):
    {body}

@hookimpl
def verifily_register_model_backend():
    return {cls}
"""


def backend_module(cls: str, *, name: str | None = None, base: str = "ScriptedModelBackend") -> str:
    body = f"PLUGIN_NAME = {name!r}" if name else "pass"
    return BACKEND_HOOK.format(cls=cls, base=base, body=body)


class _Plugin:
    """A runtime plugin returning ``result`` from the model backend hook."""

    def __init__(self, result: object) -> None:
        self.result = result

    @hookimpl
    def verifily_register_model_backend(self) -> object:
        return self.result


def _named(name: str) -> type[ModelBackend]:
    return type(f"Backend_{name.replace('-', '_')}", (ScriptedModelBackend,), {"PLUGIN_NAME": name})


# ---------------------------------------------------------------- the sample third-party plugin
def test_sample_plugin_is_discovered_and_listed_with_its_distribution(
    sample_plugin: metadata.Distribution,
) -> None:
    rows = [r for r in PluginRegistry().plugin_report() if r.plugin == SAMPLE_EP]
    assert len(rows) == 1
    row = rows[0]
    assert (row.name, row.port, row.status) == ("sample-echo", "model_backend", "ok")
    assert row.distribution == SAMPLE_DIST
    assert row.version == SAMPLE_META["version"] == sample_plugin.version
    assert row.class_path == "verifily_sample_plugin.backend:SampleEchoBackend"


def test_sample_plugin_is_selectable_by_name_and_trains(
    sample_plugin: metadata.Distribution, tmp_path: Path
) -> None:
    backend = PluginRegistry().model_backend("sample-echo")()
    assert backend.supports("classification") and not backend.supports("sft")
    labels = ["neg", "pos", "pos", "pos", "neg", "pos"]
    examples = [ClassificationExample(text=f"t{i}", label=label) for i, label in enumerate(labels)]
    config = TrainConfig.from_dict({"task": "classification", "base_model": "none", "backend": "sample-echo"})
    steps: list[int] = []
    outcome = backend.train(
        TrainRequest(config, examples, [], tmp_path, labels=["neg", "pos"]),
        TrainCallbacks(on_step=lambda step, total: steps.append(step)),
    )
    assert outcome.train_rows == len(examples) and steps == [1]
    predictions = backend.load(tmp_path, {}).classify(examples[:2], batch_size=2)
    majority = max(set(labels), key=labels.count)
    assert [p.label for p in predictions] == [majority, majority]
    assert predictions[0].probabilities[majority] == pytest.approx(labels.count(majority) / len(labels))


def test_disable_env_blocks_the_plugin(
    sample_plugin: metadata.Distribution, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_ENV, f" unrelated , {SAMPLE_EP}")
    plugins = PluginRegistry()
    with pytest.raises(UnknownPluginError):
        plugins.model_backend("sample-echo")
    assert plugins.pm.get_plugin(SAMPLE_EP) is None
    row = next(r for r in plugins.plugin_report() if r.plugin == SAMPLE_EP)
    assert row.distribution == SAMPLE_DIST and row.status.startswith("disabled") and DISABLE_ENV in row.status
    with pytest.raises(PluginError, match="disabled"):
        plugins.register(_Plugin(_named("x")), name=SAMPLE_EP)


# ---------------------------------------------------------------- lookups
def test_unknown_name_lists_the_available_names(empty: PluginRegistry) -> None:
    empty.register(_Plugin([_named("alpha"), _named("beta")]), name="two")
    with pytest.raises(UnknownPluginError) as caught:
        empty.model_backend("gamma")
    available = sorted(r.name for r in empty.plugin_report() if r.port == "model_backend" and r.ok)
    assert caught.value.available == available == ["alpha", "beta"]
    assert "gamma" in str(caught.value) and "alpha, beta" in str(caught.value)
    assert empty.model_backend("beta").PLUGIN_NAME == "beta"


def test_fakes_module_registers_every_port_and_unregisters(empty: PluginRegistry) -> None:
    name = empty.register(verifily_core.testing)
    assert empty.model_backend("scripted") is ScriptedModelBackend
    assert empty.artifact_store("memory").__name__ == "InMemoryArtifactStore"
    assert empty.tracker("recording") is RecordingTracker and empty.trackers() == [RecordingTracker]
    assert [s.__name__ for s in empty.billing_sinks()] == ["RecordingBillingSink"]
    empty.unregister(name=name)
    with pytest.raises(UnknownPluginError):
        empty.model_backend("scripted")
    assert empty.plugin_report() == []


def test_global_registry_fixture_pattern() -> None:
    """The llm-style pattern other tests use: register into the app's registry, always unregister."""
    plugin = _Plugin(_named("only-in-this-test"))
    registry.register(plugin, name="only-in-this-test")
    try:
        assert registry.model_backend("only-in-this-test").PLUGIN_NAME == "only-in-this-test"
    finally:
        registry.unregister(plugin)
    with pytest.raises(UnknownPluginError):
        registry.model_backend("only-in-this-test")


def test_load_is_idempotent(make_dist: MakeDist) -> None:
    make_dist("verifily-twice", {"twice": backend_module("Twice", name="twice")})
    plugins = PluginRegistry(group=NO_ENTRY_POINTS)
    plugins.load()
    plugins.load()
    rows = plugins.plugin_report()
    assert [(r.name, r.status) for r in rows] == [("twice", "ok")]
    assert len(plugins.pm.get_plugins()) == 1


# ---------------------------------------------------------------- broken plugins
def test_plugin_that_fails_to_import_is_reported_and_breaks_nothing(make_dist: MakeDist) -> None:
    make_dist("verifily-broken", {"broken": "raise RuntimeError('boom at import')\n"})
    make_dist("verifily-fine", {"fine": backend_module("Fine", name="fine")})
    plugins = PluginRegistry(group=NO_ENTRY_POINTS)
    assert plugins.model_backend("fine").PLUGIN_NAME == "fine"
    row = next(r for r in plugins.plugin_report() if r.plugin == "broken")
    assert row.distribution == "verifily-broken" and row.version == "1.2.3"
    assert row.status.startswith("error:") and "RuntimeError: boom at import" in row.status
    with pytest.raises(UnknownPluginError) as caught:
        plugins.model_backend("wanted")
    assert caught.value.available == ["fine"]
    assert "verifily-broken" in (caught.value.hint or "") and "boom at import" in (caught.value.hint or "")


def test_hook_that_raises_is_reported_and_others_of_the_port_still_work(empty: PluginRegistry) -> None:
    class Exploding:
        @hookimpl
        def verifily_register_tracker(self) -> type[Tracker]:
            raise ImportError("No module named 'fancy_tracker_sdk'")

    empty.register(Exploding(), name="exploding")
    empty.register(verifily_core.testing, name="fakes")
    assert empty.trackers() == [RecordingTracker]
    row = next(r for r in empty.plugin_report() if r.plugin == "exploding")
    assert row.port == "tracker" and "fancy_tracker_sdk" in row.status and not row.ok


def test_wrong_base_class_names_plugin_and_distribution(make_dist: MakeDist) -> None:
    make_dist("verifily-impostor", {"impostor": backend_module("Impostor", name="impostor", base="object")})
    plugins = PluginRegistry(group=NO_ENTRY_POINTS)
    with pytest.raises(PluginError) as caught:
        plugins.model_backend("impostor")
    message = str(caught.value)
    assert "'impostor'" in message and "verifily-impostor" in message
    assert "not a subclass of ModelBackend" in message
    assert DISABLE_ENV in (caught.value.hint or "")
    assert not next(r for r in plugins.plugin_report() if r.plugin == "impostor").ok


def test_missing_plugin_name_is_reported_not_fatal(make_dist: MakeDist) -> None:
    make_dist("verifily-nameless", {"nameless": backend_module("Nameless", base="ModelBackend")})
    make_dist("verifily-fine", {"fine": backend_module("Fine", name="fine")})
    plugins = PluginRegistry(group=NO_ENTRY_POINTS)
    assert plugins.model_backend("fine").PLUGIN_NAME == "fine"
    row = next(r for r in plugins.plugin_report() if r.plugin == "nameless")
    assert row.distribution == "verifily-nameless" and "without a PLUGIN_NAME" in row.status
    with pytest.raises(PluginError, match="verifily-nameless"):
        plugins.model_backend("nameless")


def test_non_class_return_is_an_error(empty: PluginRegistry) -> None:
    empty.register(_Plugin(ScriptedModelBackend()), name="instance")
    row = next(r for r in empty.plugin_report() if r.plugin == "instance")
    assert "not a subclass of ModelBackend" in row.status and row.class_path == ""


def test_duplicate_plugin_name_names_both_distributions(make_dist: MakeDist) -> None:
    make_dist("verifily-first", {"first": backend_module("First", name="clash")})
    make_dist("verifily-second", {"second": backend_module("Second", name="clash")})
    make_dist("verifily-fine", {"fine": backend_module("Fine", name="fine")})
    plugins = PluginRegistry(group=NO_ENTRY_POINTS)
    with pytest.raises(PluginError) as caught:
        plugins.model_backend("clash")
    assert "verifily-first" in str(caught.value) and "verifily-second" in str(caught.value)
    assert plugins.model_backend("fine").PLUGIN_NAME == "fine"
    statuses = [r.status for r in plugins.plugin_report() if r.name == "clash"]
    assert len(statuses) == 2 and all("claimed by" in s for s in statuses)


def test_duplicate_among_all_trackers_raises(empty: PluginRegistry) -> None:
    class Twin:
        @hookimpl
        def verifily_register_tracker(self) -> type[Tracker]:
            return type("OtherRecording", (RecordingTracker,), {})

    empty.register(verifily_core.testing, name="fakes")
    empty.register(Twin(), name="twin")
    with pytest.raises(PluginError, match="'recording'.*'fakes'|'recording'.*'twin'"):
        empty.trackers()


def test_same_entry_point_name_from_two_distributions(make_dist: MakeDist) -> None:
    make_dist("verifily-one", {"same": backend_module("One", name="one")})
    make_dist("verifily-two", {"same": backend_module("Two", name="two")})
    plugins = PluginRegistry(group=NO_ENTRY_POINTS)
    rows = plugins.plugin_report()
    assert sorted(r.distribution or "" for r in rows) == ["verifily-one", "verifily-two"]
    clash = next(r for r in rows if not r.ok)
    assert "already taken" in clash.status


def test_check_pending_catches_a_misspelt_hook(empty: PluginRegistry) -> None:
    class Misspelt:
        @hookimpl
        def verifily_register_modelbackend(self) -> type[ModelBackend]:
            return ScriptedModelBackend

    empty.register(verifily_core.testing, name="fakes")
    empty.check_pending()  # correct hooks pass
    empty.register(Misspelt(), name="misspelt")
    with pytest.raises(PluginError) as caught:
        empty.check_pending()
    assert "'misspelt'" in str(caught.value) and "verifily_register_modelbackend" in str(caught.value)
    assert "did you mean 'verifily_register_model_backend'" in str(caught.value)
    row = next(r for r in empty.plugin_report() if r.plugin == "misspelt")
    assert "unknown hook" in row.status


def test_hookimpl_with_wrong_arguments_is_refused(empty: PluginRegistry) -> None:
    class WrongArgs:
        @hookimpl
        def verifily_register_model_backend(self, config: object) -> None:
            return None

    with pytest.raises(PluginError, match="wrongargs"):
        empty.register(WrongArgs(), name="wrongargs")


MISSPELT_PLUGIN = """
from verifily_core.plugins import hookimpl
from verifily_core.testing import RecordingTracker, ScriptedModelBackend

class TypoBackend(ScriptedModelBackend):
    PLUGIN_NAME = "typo"

class TypoTracker(RecordingTracker):
    PLUGIN_NAME = "typo-tracker"

@hookimpl
def verifily_register_model_backnd():
    return TypoBackend

@hookimpl
def verifily_register_tracker():
    return TypoTracker
"""


def test_a_misspelt_hook_is_reported_at_load_and_on_lookup_without_breaking_the_rest(
    make_dist: MakeDist, caplog: pytest.LogCaptureFixture
) -> None:
    make_dist("verifily-typo", {"typo": MISSPELT_PLUGIN})
    plugins = PluginRegistry(group=NO_ENTRY_POINTS)
    problem = (
        "plugin 'typo' from distribution verifily-typo 1.2.3 implements 'verifily_register_model_backnd', "
        "which is not a Verifily hook; did you mean 'verifily_register_model_backend'?"
    )
    with caplog.at_level("WARNING", logger="verifily"):
        plugins.load()
    assert [r.getMessage() for r in caplog.records] == [
        problem + "; that hook is ignored (`verifily plugins` lists it)."
    ]
    with pytest.raises(PluginError) as caught:
        plugins.model_backend("typo")  # the name that plugin was meant to provide
    assert not isinstance(caught.value, UnknownPluginError)
    assert str(caught.value) == f"Model backend 'typo' is not available: {problem}"
    assert caught.value.hint and "verifily_register_model_backend" in caught.value.hint
    with pytest.raises(UnknownPluginError) as unknown:
        plugins.model_backend("other")
    assert unknown.value.hint and problem in unknown.value.hint
    assert plugins.tracker("typo-tracker").__name__ == "TypoTracker"  # its correct hook still works
    row = next(r for r in plugins.plugin_report() if r.port is None)
    assert (row.plugin, row.distribution, row.version) == ("typo", "verifily-typo", "1.2.3")
    assert row.status == "error: unknown hook: " + problem.split(" 1.2.3 ", 1)[1]
    with pytest.raises(PluginError, match="did you mean 'verifily_register_model_backend'"):
        plugins.check_pending()
