"""``mesa-llm viz`` stopped by ``kill -TERM``: the Solara server it started stops too.

The command serves the dashboard from a child process (``python -m solara run``); a SIGTERM
to the command (a service manager, a ``kill``) must reach that child, or it keeps serving.
"""

import contextlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import psutil

from tests.cli.commands import MESA_LLM

START_S = 90  # Solara's import and the app's first build, on a loaded machine
STOP_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int | None:
    """The HTTP status of ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _serving(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.2)


def test_sigterm_stops_the_dashboard_server():
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    command = subprocess.Popen(
        [MESA_LLM, "viz", "schelling", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + START_S
        while _status(url) != 200:
            assert command.poll() is None, command.communicate()[0]
            assert time.monotonic() < deadline, f"the dashboard did not serve {url} within {START_S} s"
            time.sleep(0.5)
        children = psutil.Process(command.pid).children(recursive=True)
        assert children, "the dashboard is served by a child process"

        command.send_signal(signal.SIGTERM)
        output, _ = command.communicate(timeout=STOP_S)
        assert command.returncode == 0, output
        assert "Serving the schelling dashboard" in output
        _wait_for(lambda: not _serving(port), STOP_S, f"port {port} still serves")
        _, alive = psutil.wait_procs(children, timeout=STOP_S)
        assert not alive, f"the server's processes {[p.pid for p in alive]} outlived the command"
    finally:  # leftovers of a failure; psutil kills a child only if its pid was not reused
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if command.poll() is None:
            command.kill()
        command.wait(timeout=STOP_S)
