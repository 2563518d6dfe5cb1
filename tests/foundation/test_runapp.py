"""`manage.py runapp` supervises its processes: a dead worker is started again (with a growing wait), the web
server stopping or Ctrl-C/SIGTERM stops everything. Fake processes and a fake clock, so no real waiting."""

from __future__ import annotations

import signal

import pytest

from ichweb.accounts.management.commands.runapp import Child, describe_exit, supervise


class FakeProcess:
    """Running until ``exit`` is called; records the signals it got."""

    def __init__(self, name: str) -> None:
        self.name, self.code, self.signals = name, None, []

    def poll(self) -> int | None:
        return self.code

    def exit(self, code: int) -> None:
        self.code = code

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        self.code = -sig

    def wait(self, timeout: float | None = None) -> int:
        return self.code

    def kill(self) -> None:
        self.signals.append(signal.SIGKILL)
        self.code = -signal.SIGKILL


class Stack:
    """A gpu worker and a web server; ``script`` maps a fake time to what happens then."""

    def __init__(self, script) -> None:
        self.now, self.script, self.lines = 0.0, script, []
        self.started: dict[str, list[FakeProcess]] = {"gpu": [], "web": []}

    def factory(self, name: str):
        def start() -> FakeProcess:
            proc = FakeProcess(name)
            self.started[name].append(proc)
            return proc

        return start

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for at in [t for t in self.script if t <= self.now]:
            self.script.pop(at)(self)

    def run(self) -> None:
        supervise(
            [Child("gpu worker", self.factory("gpu")), Child("web", self.factory("web"), restart=False)],
            say=self.lines.append,
            sleep=self.sleep,
            clock=lambda: self.now,
            poll_s=0.5,
            first_delay_s=1,
            max_delay_s=8,
            healthy_after_s=60,
        )

    def restarts_at(self) -> list[str]:
        return [line for line in self.lines if "starting it again" in line]


def kill_gpu(stack: Stack) -> None:
    stack.started["gpu"][-1].exit(-signal.SIGKILL)


def test_a_killed_worker_is_started_again_and_a_crash_loop_backs_off():
    script = {10.0: kill_gpu}
    # Then it crashes at once, four times in a row (a bad environment, say), and keeps running after that.
    crash_times = []
    t = 10.0
    for delay in (1, 2, 4, 8):
        t += delay + 0.5  # started again after ``delay``, found dead on the next poll
        crash_times.append(t)
    for at in crash_times:
        script[at] = lambda s: s.started["gpu"][-1].exit(1)
    script[200.0] = kill_gpu  # long after a healthy run: the wait starts from 1 s again
    script[300.0] = lambda s: s.started["web"][-1].exit(0)  # the web server stops: everything stops
    stack = Stack(script)
    stack.run()

    waits = [line.rsplit("in ", 1)[1] for line in stack.restarts_at()]
    assert waits == ["1 s.", "2 s.", "4 s.", "8 s.", "8 s.", "1 s."]
    assert stack.lines[0] == "gpu worker stopped (killed by SIGKILL); starting it again in 1 s."
    assert "gpu worker stopped (exit code 1); starting it again in 2 s." in stack.lines
    assert stack.lines.count("gpu worker started again.") == 6
    assert len(stack.started["gpu"]) == 7 and len(stack.started["web"]) == 1  # the web is never restarted
    assert stack.lines[-1] == "web stopped (exit code 0); stopping the others."
    # The running worker got SIGTERM on the way out; the dead ones got nothing.
    assert stack.started["gpu"][-1].signals == [signal.SIGTERM]
    assert all(p.signals == [] for p in stack.started["gpu"][:-1])


@pytest.mark.parametrize("when", [5.0, 10.7])  # while both run; while the worker waits to start again
def test_ctrl_c_or_sigterm_stops_everything(when):
    def interrupt(stack: Stack) -> None:
        raise KeyboardInterrupt  # what SIGTERM becomes (signal.default_int_handler)

    stack = Stack({10.0: kill_gpu, when: interrupt})
    stack.run()
    web = stack.started["web"][0]
    assert web.signals == [signal.SIGTERM]
    running = [p for p in stack.started["gpu"] if p.code == -signal.SIGTERM]
    assert len(running) == (1 if when < 10 else 0)
    assert len(stack.started["gpu"]) == 1  # never started again after the interrupt


def test_exit_descriptions():
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(2) == "exit code 2"
