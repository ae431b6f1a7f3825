import importlib.resources
import re
import shutil
from pathlib import Path

import pytest

from mesa_llm.viz.assets import assets_dir, fetch_assets, missing_assets, required_assets

TEMPLATE = importlib.resources.files("solara.server") / "templates" / "solara.html.j2"
VEGALITE = importlib.resources.files("solara.widgets") / "vue" / "vegalite.vue"


def test_required_assets_parses_the_installed_solara():
    specs = required_assets()
    assert specs == sorted(set(specs))
    for spec in specs:
        assert re.fullmatch(r"(@[\w.-]+/)?[\w.-]+@\d[\w.-]*", spec), spec
    template = TEMPLATE.read_text(encoding="utf-8")
    requirejs = [spec for spec in specs if spec.startswith("requirejs@")]
    assert len(requirejs) == 1
    assert f"/{requirejs[0]}/" in template
    apps = [spec for spec in specs if spec.startswith("@widgetti/solara-vuetify")]
    assert len(apps) == 1, "only the vuetify app of the installed Vue"
    assert f"/{apps[0]}/" in template
    assert any(spec.startswith("font-awesome@") for spec in specs)
    vegalite = VEGALITE.read_text(encoding="utf-8")
    for name in ("vega", "vega-lite", "vega-embed"):
        (spec,) = [spec for spec in specs if spec.rpartition("@")[0] == name]
        assert f"/{spec}/" in vegalite


def test_assets_dir_is_solaras_proxy_cache_dir():
    import solara.server.settings

    assert assets_dir() == Path(solara.server.settings.assets.proxy_cache_dir)


def test_missing_assets_in_an_empty_folder_lists_all(tmp_path):
    assert missing_assets(tmp_path) == required_assets()
    (tmp_path / "requirejs@2.3.6").mkdir()  # an empty folder counts as missing
    assert missing_assets(tmp_path) == required_assets()


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cdn")
    # the default tarball cache, the one scripts/setup.sh fills: npm downloads once per machine
    return directory, fetch_assets(directory)


def test_fetch_assets_fetches_with_npm(fetched):
    directory, specs = fetched
    assert specs == required_assets()
    assert missing_assets(directory) == []
    assert (directory / "requirejs@2.3.6" / "require.js").is_file()
    assert (directory / "vega@5" / "build" / "vega.min.js").is_file()
    assert not (directory / "requirejs@2.3.6" / "package").exists()
    assert not [path for path in directory.iterdir() if path.name.startswith(".")], "no staging folder left"
    assert fetch_assets(directory) == []


def only_missing(directory, missing):
    """Make every required asset but ``missing`` present in ``directory`` (placeholders)."""
    for spec in required_assets():
        if spec != missing:
            (directory / spec).mkdir(parents=True)
            (directory / spec / "present").touch()


def test_fetch_assets_runs_npm_and_fills_the_cache(tmp_path):
    cache = tmp_path / "cache"
    only_missing(tmp_path / "cdn", "requirejs@2.3.6")
    assert fetch_assets(tmp_path / "cdn", cache=cache) == ["requirejs@2.3.6"]
    assert (tmp_path / "cdn" / "requirejs@2.3.6" / "require.js").is_file()
    assert [path.name for path in cache.iterdir()] == ["requirejs@2.3.6.tgz"]


def test_fetch_assets_replaces_a_broken_cached_tarball(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "requirejs@2.3.6.tgz").write_bytes(b"not a tarball")
    only_missing(tmp_path / "cdn", "requirejs@2.3.6")
    assert fetch_assets(tmp_path / "cdn", cache=cache) == ["requirejs@2.3.6"]
    assert (tmp_path / "cdn" / "requirejs@2.3.6" / "require.js").is_file()
    assert (cache / "requirejs@2.3.6.tgz").stat().st_size > 100_000


def test_fetch_assets_uses_the_tarball_cache(fetched, tmp_path, monkeypatch):
    directory, _ = fetched
    cache = tmp_path / "cache"
    cache.mkdir()
    source = tmp_path / "src" / "package"
    shutil.copytree(directory / "requirejs@2.3.6", source)
    archive = shutil.make_archive(str(tmp_path / "requirejs"), "gztar", tmp_path / "src")
    shutil.move(archive, cache / "requirejs@2.3.6.tgz")
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    target = tmp_path / "cdn"
    only_missing(target, "requirejs@2.3.6")
    (target / "requirejs@2.3.6").mkdir()  # an empty folder is replaced
    assert fetch_assets(target, cache=cache) == ["requirejs@2.3.6"]
    assert (target / "requirejs@2.3.6" / "require.js").read_bytes() == (source / "require.js").read_bytes()


def test_fetch_assets_without_npm_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    with pytest.raises(RuntimeError, match="npm is not on PATH") as error:
        fetch_assets(tmp_path / "cdn", cache=tmp_path / "cache")
    message = str(error.value)
    assert required_assets()[0] in message
    assert "install npm" in message
    assert "SOLARA_ASSETS_PROXY_CACHE_DIR" in message
    assert not (tmp_path / "cdn").exists() or not any((tmp_path / "cdn").iterdir())


def test_fetch_assets_reports_npms_error(tmp_path, monkeypatch):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    # a registry that refuses connections: npm itself fails, at once
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(RuntimeError, match="ECONNREFUSED") as error:
        fetch_assets(tmp_path / "cdn", cache=tmp_path / "cache")
    message = str(error.value)
    assert f"asset {required_assets()[0]} " in message
    assert "exited with 1" in message
    assert "SOLARA_ASSETS_PROXY_CACHE_DIR" in message
