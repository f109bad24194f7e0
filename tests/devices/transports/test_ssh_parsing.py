"""ssh device specs and ~/.ssh/config discovery: pure parsing, apart from test_ssh.py so they run
without sshd."""

from __future__ import annotations

import pytest

from edgebert.devices import DeviceError
from edgebert.devices.transports.ssh import SshTransport


def test_spec_parsing_and_config_discovery(tmp_path, monkeypatch):
    t = SshTransport.from_spec("ssh://pi@raspberrypi.local:2222")
    assert (t.user, t.host, t.port, t.name) == ("pi", "raspberrypi.local", 2222, "pi@raspberrypi.local:2222")
    t = SshTransport.from_spec("ssh://jetson")
    assert (t.user, t.host, t.port) == (None, "jetson", None)
    with pytest.raises(DeviceError, match="bad ssh device"):
        SshTransport.from_spec("ssh://a@b:notaport")
    cfg = tmp_path / "config"
    cfg.write_text("Host *\n  ServerAliveInterval 5\nHost pi4 jetson # boards\n  User pi\nHost !x termux\n")
    monkeypatch.setenv("EDGEBERT_SSH_CONFIG", str(cfg))
    assert SshTransport.discover() == ["ssh://pi4", "ssh://jetson", "ssh://termux"]
