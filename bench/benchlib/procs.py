"""Processes the harness starts, and what /proc says about them.

Every server is started in its own session (so a Ctrl-C in the terminal
reaches only the harness, which then stops them in order) and registered with
a Reaper that stops whatever is still running on exit, exception or signal.
"""
import atexit
import os
import signal
import socket
import subprocess
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cores():
    return len(os.sched_getaffinity(0))


def pinned(cmd, cpu):
    """cmd run under taskset on one core (None: not pinned)."""
    return cmd if cpu is None else ["taskset", "-c", str(cpu)] + list(cmd)


class Reaper:
    """Stops every process registered with it, newest first, exactly once."""

    def __init__(self):
        self.procs = []
        atexit.register(self.stop_all)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)

    def _on_signal(self, signum, frame):
        raise SystemExit(128 + signum)

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def stop_all(self):
        while self.procs:
            self.procs.pop().stop()


class Server:
    """One server process: started, waited for, measured, stopped."""

    def __init__(self, name, cmd, log_path, env=None, cwd=None, stop_signal=signal.SIGTERM):
        self.name = name
        self.cmd = cmd
        self.stop_signal = stop_signal
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.popen = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log_path}:\n"
                               + tail(self.log_path))

    def stop(self, timeout=10):
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, self.stop_signal)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        # Anything the server left in its session (nginx workers, shells).
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()

    def pids(self):
        """The server and all its descendants."""
        return [self.pid] + descendants(self.pid)

    def cpu_seconds(self):
        return sum(cpu_seconds(p) for p in self.pids())

    def rss_kib(self, field="VmRSS"):
        return sum(status_kib(p, field) for p in self.pids())

    def reset_peak_rss(self):
        """Makes VmHWM start again from the current RSS (Linux >= 4.0)."""
        for p in self.pids():
            try:
                with open(f"/proc/{p}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass


def system_busy_seconds():
    """User and system CPU time of every process on the machine (all cores),
    from /proc/stat. Interrupt and softirq time is left out: it is charged to
    no process, so it could not be told apart from ours."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2]) / CLK_TCK


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    # comm is in parentheses and may hold spaces; fields after it are plain.
    return s[s.rindex(")") + 2:].split()


def descendants(pid):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(d)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cpu_seconds(pid):
    """utime + stime of a process (all its threads, living and exited)."""
    try:
        f = _stat_fields(pid)
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / CLK_TCK


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        proc.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not listen on {port} within {timeout}s:\n" + tail(proc.log_path))


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_http(url, proc, timeout=30):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        proc.check_alive()
        try:
            return http_get(url, timeout=1)
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise RuntimeError(f"{proc.name}: {url} did not answer within {timeout}s ({last}):\n" + tail(proc.log_path))
