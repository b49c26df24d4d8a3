"""The terminal chat, driven through tmux like a person would: type, read, quit."""

import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, TINY

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux missing: `make test` installs it")


def pane(session):
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for(session, text, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in pane(session):
            return pane(session)
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear:\n{pane(session)}")


def test_chat_answers_a_typed_question_and_quits(trained_run, tmp_path):
    session = f"chat-{time.monotonic_ns()}"
    transcript = tmp_path / "t.json"
    overrides = " ".join(trained_run["overrides"]) + " sampling.max_tokens=40"
    command = f"cd {ROOT} && HF_HUB_OFFLINE=1 {sys.executable} -m serve chat --config {TINY} {overrides}; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", command], check=True)
    try:
        wait_for(session, "ready.")
        subprocess.run(["tmux", "send-keys", "-t", session, "A man has chest pain. Diagnosis?", "Enter"], check=True)
        screen = wait_for(session, "you>", timeout=60)
        deadline = time.monotonic() + 60
        # the second prompt is "you>" on the pane: capture-pane drops the trailing space
        while screen.count("you>") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            screen = pane(session)
        assert screen.count("you>") == 2, screen
        assert "thinking:" in screen
        assert "answer:" in screen or "stopped by the token limit" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, f"/save {transcript}", "Enter"], check=True)
        wait_for(session, "saved 2 messages")
        subprocess.run(["tmux", "send-keys", "-t", session, "/quit", "Enter"], check=True)
        wait_for(session, "bye")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert '"reasoning"' in transcript.read_text()
