"""Solara's front-end assets, fetched from the npm registry so that dashboards work offline.

A Solara page is only an empty shell until the browser has loaded its JavaScript: requirejs,
the vuetify app, font-awesome and, for the widgets a page uses, vega / vega-lite / vega-embed
(Altair charts) and katex / mermaid (every ``solara.Markdown``). Solara serves all of them under
``/_solara/cdn/``; a file that is missing from its proxy cache directory
(:func:`assets_dir`) is downloaded from a CDN on the first request. Without internet that
download fails, and the page NEVER renders (the browser shows a blank page or a spinner).

This module reads which packages the installed Solara asks for (:func:`required_assets`, parsed
from Solara's own template and widget sources, so a Solara upgrade is followed), and fetches
the missing ones with ``npm pack`` from the npm registry, which is reachable where a CDN is not
(:func:`fetch_assets`). The default directory is the one ``solara run`` reads, so a fetched
virtual environment renders offline with no setting at all; ``SOLARA_ASSETS_PROXY_CACHE_DIR``
points Solara (and this module) at another folder.

Run ``python -m mesa_llm.viz.assets`` to fetch what is missing (``scripts/setup.sh`` does it
when the ``viz`` extra is installed).
"""

import importlib.metadata
import importlib.resources
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

from mesa_llm.backends.embedded import cache_dir

logger = logging.getLogger(__name__)

#: The npm client's time limit for one package, in seconds.
NPM_TIMEOUT_S = 300

# A package spec after the CDN prefix of a Solara template or widget, e.g. "{{cdn}}/requirejs@2.3.6/"
# or "${this.getCdn()}/vega@5/": an optional npm scope, a name, "@" and a version (or a major).
_CDN_SPEC = re.compile(
    r"(?:\{\{\s*cdn\s*\}\}|\$\{\s*this\.getCdn\(\)\s*\})/(?P<spec>(?:@[\w.-]+/)?[\w.-]+@\d[\w.-]*)/"
)
_STACK_LINE = re.compile(r"^(npm (error|ERR!))?\s+at\s")
_VUETIFY_APPS = {True: "@widgetti/solara-vuetify3-app", False: "@widgetti/solara-vuetify-app"}
# Solara's sources that load packages from the CDN on every page, or with a widget a dashboard
# uses: (package holding the file, path inside it).
_WIDGET_SOURCES = (
    ("solara.widgets", "vue/vegalite.vue"),  # solara.FigureAltair: vega, vega-lite, vega-embed
    ("solara.components", "markdown.py"),  # solara.Markdown: katex, mermaid
    ("solara.widgets", "vue/gridlayout.vue"),  # solara.GridDraggable (Mesa's SolaraViz): vue-grid-layout
)


def _specs_in(text: str) -> set[str]:
    return {match["spec"] for match in _CDN_SPEC.finditer(text)}


def _name(spec: str) -> str:
    return spec.rpartition("@")[0]


def _uses_vue3() -> bool | None:
    """Whether Solara renders with Vue 3 (its server checks ipyvue's major version the same way)."""
    try:
        return importlib.metadata.version("ipyvue").startswith("3")
    except importlib.metadata.PackageNotFoundError:
        return None


def required_assets() -> list[str]:
    """The npm packages a Solara page of the installed Solara loads from its CDN.

    Parsed from Solara's page template (``solara/server/templates/solara.html.j2``: the
    vuetify app of the installed ipyvue's Vue version, requirejs), its font-awesome setting,
    and the widgets a dashboard uses (``solara/widgets/vue/vegalite.vue`` for Altair charts,
    ``solara/components/markdown.py`` for Markdown, ``solara/widgets/vue/gridlayout.vue`` for the
    draggable grid of Mesa's ``SolaraViz``), so the versions follow a Solara upgrade.

    Returns:
        Sorted, unique package specs, each also the name of its folder under :func:`assets_dir`,
        e.g. ``["@widgetti/solara-vuetify3-app@5.2.0", ..., "requirejs@2.3.6", "vega@5", ...]``.

    Raises:
        RuntimeError: Solara's template names no package (a Solara whose layout this module
            does not know).
    """
    import solara.server.settings as solara_settings

    template = importlib.resources.files("solara.server") / "templates" / "solara.html.j2"
    page = _specs_in(template.read_text(encoding="utf-8"))
    if not page:
        raise RuntimeError(f"Found no CDN package in Solara's template {template}; is Solara too new?")
    vue3 = _uses_vue3()
    if vue3 is not None:
        page = {spec for spec in page if _name(spec) != _VUETIFY_APPS[not vue3]}
    specs = set(page)
    if solara_settings.assets.fontawesome_enabled:
        # The template names it through a setting: "/font-awesome@4.5.0/css/font-awesome.min.css".
        specs |= _specs_in("{{cdn}}" + solara_settings.assets.fontawesome_path)
    for package, path in _WIDGET_SOURCES:
        source = importlib.resources.files(package).joinpath(*path.split("/"))
        specs |= _specs_in(source.read_text(encoding="utf-8"))
    return sorted(specs)


def assets_dir() -> Path:
    """The folder Solara serves ``/_solara/cdn/`` from, and to which it adds what it downloads.

    Solara's ``assets.proxy_cache_dir`` setting: ``SOLARA_ASSETS_PROXY_CACHE_DIR`` when set (read
    when Solara's settings are first imported), else ``<sys.prefix>/share/solara/cdn``.
    """
    import solara.server.settings as solara_settings

    return Path(solara_settings.assets.proxy_cache_dir)


def _asset_present(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def missing_assets(directory: Path | None = None) -> list[str]:
    """The required assets (:func:`required_assets`) that lack a non-empty folder in ``directory``.

    Args:
        directory: The assets folder; default :func:`assets_dir`.

    Returns:
        The missing package specs, sorted.
    """
    directory = assets_dir() if directory is None else Path(directory)
    return [spec for spec in required_assets() if not _asset_present(directory / spec)]


def _default_cache() -> Path:
    return cache_dir() / "npm"


def _npm_error(spec: str, reason: str) -> RuntimeError:
    return RuntimeError(
        f"Could not fetch Solara's front-end asset {spec} from the npm registry: {reason}\n"
        "Without it a Solara page never renders offline. Fix: install npm (e.g. "
        "`apt-get install npm`) and run `python -m mesa_llm.viz.assets`, or set "
        "SOLARA_ASSETS_PROXY_CACHE_DIR to a folder that holds the assets "
        f"({', '.join(required_assets())}), each unpacked in a folder named by its spec."
    )


def _npm_pack(spec: str, destination: Path) -> Path:
    """Download the tarball of ``spec`` into the empty folder ``destination`` with ``npm pack``."""
    npm = shutil.which("npm")
    if npm is None:
        raise _npm_error(spec, "npm is not on PATH.")
    command = [npm, "pack", spec, "--pack-destination", str(destination), "--loglevel=error"]
    try:
        result = subprocess.run(
            command, cwd=destination, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise _npm_error(spec, f"{' '.join(command)} failed: {error}") from error
    tarballs = sorted(destination.glob("*.tgz"))
    if result.returncode != 0 or len(tarballs) != 1:
        lines = (result.stderr or result.stdout).strip().splitlines()
        # npm error lines, without the JavaScript stack, which says nothing about the cause
        lines = [line for line in lines if not _STACK_LINE.match(line) and line.strip() != "npm error"]
        tail = "\n".join(lines[-15:])
        raise _npm_error(spec, f"`{' '.join(command)}` exited with {result.returncode}:\n{tail}")
    return tarballs[0]


def _tarball(spec: str, cache: Path, scratch: Path) -> Path:
    """The npm tarball of ``spec``: from the cache, else packed by npm (and then cached)."""
    cached = cache / (spec.replace("/", "+") + ".tgz")
    if cached.is_file():
        logger.debug("Using the cached tarball %s", cached)
        return cached
    tarball = _npm_pack(spec, scratch)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".{cached.name}.{os.getpid()}.tmp"
        shutil.copyfile(tarball, partial)
        os.replace(partial, cached)  # a complete file or none, with concurrent setups
    except OSError as error:
        logger.warning("Could not cache %s in %s: %s", spec, cache, error)
    return tarball


def _strip_top(name: str) -> str:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return "/".join(parts[1:])


def _extract(tarball: Path, target: Path) -> None:
    """Unpack an npm tarball into ``target`` atomically, without its leading ``package/`` folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the assets from a server run by another user
        with tarfile.open(tarball, "r:gz") as archive:
            members = []
            for member in archive.getmembers():
                # npm packs every file under one top folder, "package/" for nearly all packages
                name = _strip_top(member.name)
                if not name:
                    continue
                changes = {"name": name}
                if member.islnk():
                    changes["linkname"] = _strip_top(member.linkname)
                members.append(member.replace(**changes, deep=False))
            archive.extractall(staging, members=members, filter="data")
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # an empty folder counts as missing
        try:
            staging.rename(target)
        except OSError:
            if not _asset_present(target):
                raise
            logger.info("%s appeared meanwhile (another setup); keeping it", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_assets(directory: Path | None = None, *, cache: Path | None = None) -> list[str]:
    """Fetch the missing assets (:func:`missing_assets`) from the npm registry into ``directory``.

    Each package is downloaded with ``npm pack <spec>`` (``vega@5`` gives the newest 5.x, as the
    CDN would), its tarball kept in ``cache`` so that the next virtual environment needs no
    download, and unpacked into ``directory/<spec>/`` (through a temporary folder beside it, so a
    folder is complete whenever it exists).

    Args:
        directory: The assets folder; default :func:`assets_dir`, the one ``solara run`` serves.
        cache: Where tarballs are kept, one per spec; default
            ``${XDG_CACHE_HOME:-~/.cache}/mesa-llm-lab/npm``.

    Returns:
        The specs fetched (empty when nothing was missing).

    Raises:
        RuntimeError: npm is missing or failed; the message names the spec, the end of npm's
            error output, and the fix.
    """
    directory = assets_dir() if directory is None else Path(directory)
    cache = _default_cache() if cache is None else Path(cache)
    fetched = []
    for spec in missing_assets(directory):
        with tempfile.TemporaryDirectory(prefix="mesa-llm-npm-") as scratch:
            tarball = _tarball(spec, cache, Path(scratch))
            try:
                _extract(tarball, directory / spec)
            except (tarfile.TarError, EOFError, zlib.error) as error:
                if tarball.parent != cache:
                    raise RuntimeError(f"npm gave a broken tarball for {spec}: {error}") from error
                logger.warning("The cached tarball %s is broken (%s); fetching it again", tarball, error)
                tarball.unlink()
                tarball = _tarball(spec, cache, Path(scratch))
                _extract(tarball, directory / spec)
            source = "the tarball cache" if tarball.parent == cache else "the npm registry"
        logger.info("Fetched %s from %s into %s", spec, source, directory / spec)
        fetched.append(spec)
    return fetched


def main() -> int:
    """Fetch the missing assets into :func:`assets_dir` and log what was done.

    Returns:
        The exit status: 0, or 1 when an asset could not be fetched.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    directory = assets_dir()
    try:
        fetched = fetch_assets(directory)
    except RuntimeError as error:
        logger.error("%s", error)
        return 1
    logger.info("Solara's front-end assets are all in %s (%d fetched now)", directory, len(fetched))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
