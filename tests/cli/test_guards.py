"""What keeps ``mesa-llm run`` safe: the folder check, SIGTERM as Ctrl-C, the fallback verdict."""

import io
import os
import signal
import time

import pytest
import typer
from rich.console import Console

from mesa_llm.cli.guards import (
    FallbackPolicy,
    deferred_interrupts,
    discard_folder,
    fallback_exit,
    new_folder,
    sigterm_interrupts,
)
from mesa_llm.records import CallLog, CallRecord


def console():
    return Console(file=io.StringIO(), width=200)


def log_of(*fallbacks):
    log = CallLog()
    for i, fell_back in enumerate(fallbacks):
        error = f"ConnectionError: attempt {i}" if fell_back else None
        log.add(CallRecord(1, 1.0, i, "LLMResident", "b", (), action="stay", fallback=fell_back, error=error))
    return log


@pytest.mark.parametrize(
    ("fallbacks", "policy", "code"),
    [
        ((True, True), FallbackPolicy.ALL, 3),
        ((True, False), FallbackPolicy.ALL, 0),
        ((True, False), FallbackPolicy.ANY, 3),
        ((True, True), FallbackPolicy.NEVER, 0),
        ((False, False), FallbackPolicy.ANY, 0),
        ((), FallbackPolicy.ALL, 0),  # no LLM decision: nothing fell back
    ],
)
def test_the_fallback_policy_gives_the_exit_code(fallbacks, policy, code):
    err = console()
    assert fallback_exit(err, log_of(*fallbacks), policy) == code
    text = err.file.getvalue()
    lines = text.splitlines()
    assert any(line.startswith("Warning:") for line in lines) == any(fallbacks)
    assert any(line.startswith("Error:") for line in lines) == (code == 3)


def test_the_messages_count_the_fallbacks_and_give_the_last_error():
    err = console()
    assert fallback_exit(err, log_of(True, False, True), FallbackPolicy.ANY) == 3
    text = err.file.getvalue()
    assert "Warning: 2 of 3 LLM decisions fell back. Last error: ConnectionError: attempt 2" in text
    assert "Error: 2 of 3 LLM decisions fell back: the backend gave no usable answer" in text


def test_sigterm_is_a_keyboard_interrupt_while_it_lasts():
    before = signal.getsignal(signal.SIGTERM)

    def terminated():
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler runs, and raises, long before this ends

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        terminated()
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_new_folder_is_created_and_probed_and_discarded_when_unused(tmp_path):
    folder = tmp_path / "a" / "b"
    created = new_folder(console(), folder)
    assert created == [folder, tmp_path / "a"]
    assert list(folder.iterdir()) == []  # the probe is removed
    (folder / "cache.sqlite").write_bytes(b"")
    discard_folder(created)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_other_files_is_kept(tmp_path):
    folder = tmp_path / "run"
    created = new_folder(console(), folder)
    (folder / "notes.txt").write_text("mine")
    discard_folder(created)
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_folder_under_a_file_exits_2(tmp_path):
    (tmp_path / "file").write_text("x")
    err = console()
    with pytest.raises(typer.Exit) as info:
        new_folder(err, tmp_path / "file" / "run")
    assert info.value.exit_code == 2
    assert "Cannot write the output folder" in err.file.getvalue()


def write_while_interrupted(written):
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the signals have been handled: nothing interrupted this block
        written.append("folder")


def test_interrupts_during_the_final_writing_wait_for_it_to_end():
    before = signal.getsignal(signal.SIGINT)
    written = []
    with pytest.raises(KeyboardInterrupt):
        write_while_interrupted(written)
    assert written == ["folder"]
    assert signal.getsignal(signal.SIGINT) is before
    with deferred_interrupts():  # without an interrupt it just runs
        written.append("again")
    assert written == ["folder", "again"]
