"""Faults a user meets in the data layer (issue 15): damaged caches and files, a full disk, Ctrl-C and
kill -9 during a build, an unusable ORL_DATA_DIR, a closed stdout. The CLI cases run the command as a
subprocess and check its exit status, its one line on stderr, no traceback, and what is left on disk."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from orl.data import DatasetError, load_dataset, load_hdf5, registry, save_hdf5
from orl.data.errors import CorruptFileError
from orl.data.io import MINARI_TMP_PREFIX

REPO = Path(__file__).resolve().parents[1]
DATA_FILE = "minari/orl/pendulum-random-v0/data/main_data.hdf5"


def run(args: list[str], data_dir: Path | str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "ORL_DATA_DIR": str(data_dir)}
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, *args], env=env, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          cwd=REPO, **kwargs)


def one_error_line(stderr: str) -> str:
    """The command's whole stderr is one line (no traceback, no h5py error stack)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and len(lines) == 1, stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory) -> Path:
    """An ORL_DATA_DIR holding a built pendulum-random (copied by the tests that damage it)."""
    root = tmp_path_factory.mktemp("built")
    proc = run(["-m", "orl.data.build", "pendulum-random"], root)
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def data_dir(built_cache, tmp_path, monkeypatch) -> Path:
    """A private copy of ``built_cache``, used as this process's ORL_DATA_DIR."""
    root = tmp_path / "orl"
    shutil.copytree(built_cache, root)
    monkeypatch.setenv("ORL_DATA_DIR", str(root))
    return root


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    elif how == "empty":
        path.write_bytes(b"")
    else:  # random bytes
        path.write_bytes(np.random.default_rng(0).bytes(100_000))


# ------------------------------------------------------------------ item 2: damaged caches and files
@pytest.mark.parametrize("how", ["truncated", "empty", "random"])
def test_a_damaged_cache_is_named_on_load_and_rebuilt_by_build(data_dir, how, capsys):
    from orl.data import build as build_cli

    good = load_dataset("pendulum-random").checksum()
    damage(data_dir / DATA_FILE, how)
    with pytest.raises(DatasetError) as info:  # not an h5py OSError
        load_dataset("pendulum-random", build=False)
    assert str(data_dir / DATA_FILE) in str(info.value) and "python -m orl.data.build pendulum-random" in str(info.value)
    assert build_cli.main(["pendulum-random"]) == 0  # used to say "already built"
    out, err = capsys.readouterr()
    assert "already built" not in out and "pendulum-random: built in" in out
    assert f"cached copy of pendulum-random is damaged: {data_dir / DATA_FILE}" in err
    assert load_dataset("pendulum-random", build=False).checksum() == good


def test_a_damaged_cache_through_the_cli_is_one_line_then_rebuilt(data_dir):
    damage(data_dir / DATA_FILE, "truncated")
    proc = run(["-m", "orl.diagnose", "pendulum-random"], data_dir)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"cached copy of pendulum-random is damaged: {data_dir / DATA_FILE}" in one_error_line(proc.stderr)
    assert "transitions        20000" in proc.stdout


def test_data_that_differ_from_their_checksum_are_named_and_rebuilt(data_dir, capsys):
    """Damage inside the data (the HDF5 file still opens) shows as a checksum mismatch on load."""
    good = load_dataset("pendulum-random").checksum()
    with h5py.File(data_dir / DATA_FILE, "a") as f:
        f["episode_5/rewards"][3] += 1.0
    with pytest.raises(CorruptFileError, match="differ from what was written") as info:
        load_dataset("pendulum-random", build=False)
    assert str(data_dir / DATA_FILE) in str(info.value)
    assert "python -m orl.data.build pendulum-random --force" in str(info.value)
    assert load_dataset("pendulum-random").checksum() == good  # build=True: rebuilt, and said so
    assert "rebuilding pendulum-random" in capsys.readouterr().err


@pytest.mark.parametrize("offset", [640, 768, 3000])
def test_a_damaged_d4rl_file_is_a_dataset_error(tmp_path, three_episodes, offset):
    """Bytes overwritten in an HDF5 file written by orl: in its header (h5py used to raise a raw
    RuntimeError or KeyError) or in its data (it used to load, silently wrong)."""
    big = ReplayBufferOf(three_episodes, 300)
    path = save_hdf5(big, tmp_path / "d.hdf5")
    with open(path, "r+b") as f:  # in the data: finite floats (0x3f: about 0.75), so no NaN check catches it
        f.seek(offset)
        f.write((b"\xff" if offset < 2048 else b"\x3f") * 64)
    with pytest.raises(DatasetError) as info:
        load_hdf5(path)
    assert str(path) in str(info.value)
    proc = run(["-m", "orl.diagnose", str(path)], tmp_path / "orl")
    assert proc.returncode == 2 and str(path) in one_error_line(proc.stderr)


def ReplayBufferOf(buf, repeats: int):  # noqa: N802 - a few KB of data, so offsets land in the data
    from orl.data import ReplayBuffer

    return ReplayBuffer.concatenate([buf] * repeats)


# ------------------------------------------------------------------ item 3: a full disk, stale temporaries
@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); skip where mounting is not permitted."""
    mounted: list[Path] = []

    def mount(size: str = "1m", read_only: bool = False) -> Path:
        where = tmp_path / f"tmpfs{len(mounted)}"
        where.mkdir()
        opts = f"size={size}" + (",ro" if read_only else "")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'mount failed'}); "
                        f"the monkeypatched full-disk test covers the code path")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_stops_a_build_with_one_line_on_a_real_tmpfs(tmpfs):
    """A 1 MB tmpfs cannot hold pendulum-random (2 MB): HDF5 used to print ~900 lines of errors and
    segfault, leaving its temporary directory behind."""
    root = tmpfs("1m") / "orl"
    proc = run(["-m", "orl.data.build", "pendulum-random"], root)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    line = one_error_line(proc.stderr)
    assert line.startswith("error: no space left on device while writing") and "pendulum-random" in line
    assert "freed the partial write" in line
    assert not list((root / "minari").glob(f"{MINARI_TMP_PREFIX}*"))  # the partial build is gone
    assert not (root / "minari" / "orl" / "pendulum-random-v0").exists()


@pytest.mark.parametrize("fault", ["oserror", "hdf5-runtime-error"])
def test_a_full_disk_is_one_clear_error_without_mounting(tmp_path, monkeypatch, capsys, fault):
    """The same path with the Minari writer made to fail as h5py does on a full disk."""
    import minari

    from orl.data import build as build_cli

    def full(*args, **kwargs):
        if fault == "oserror":
            raise OSError(errno.ENOSPC, "Can't synchronously write data (file write failed)")
        raise RuntimeError("Can't decrement id ref count (file write failed: errno = 28, "
                           "error message = 'No space left on device')")

    monkeypatch.setenv("ORL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(minari, "create_dataset_from_buffers", full)
    assert build_cli.main(["pendulum-random"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no space left on device while writing") and "\n" not in err
    assert not list((tmp_path / "minari").glob(f"{MINARI_TMP_PREFIX}*"))
    assert not registry.is_built("pendulum-random")


def test_the_temporary_of_a_killed_build_is_removed_at_the_next_load(tmp_path):
    """kill -9 of the build process while its dataset is being written leaves the temporary Minari
    root behind (no finally runs); the next load removes it, as no live process owns it."""
    code = (
        "import os, signal, minari\n"
        "BUILD = os.getpid()\n"
        "def killed(*a, **k):\n"
        "    os.kill(BUILD, signal.SIGKILL)\n"
        "    import time; time.sleep(30)\n"
        "minari.create_dataset_from_buffers = killed\n"
        "from orl.data import build_dataset; build_dataset('pendulum-random')\n"
    )
    proc = run(["-c", code], tmp_path)
    assert proc.returncode == -9
    time.sleep(0.5)  # the writer child, if any, dies with its parent
    left = list((tmp_path / "minari").glob(f"{MINARI_TMP_PREFIX}*"))
    assert len(left) == 1
    for f in left[0].iterdir():  # made a minute ago: past the grace period of a starting build
        os.utime(f, (time.time() - 60, time.time() - 60))
    os.utime(left[0], (time.time() - 60, time.time() - 60))
    check = run(["-c", "from orl.data import load_dataset; print(len(load_dataset('pendulum-random')))"], tmp_path)
    assert check.returncode == 0 and check.stdout.strip() == "20000", check.stderr[-2000:]
    assert not left[0].exists()


def test_the_temporary_of_a_live_build_is_kept(tmp_path):
    from orl.utils.atomic import OWNER_FILE, owned_tempdir, sweep_stale_tempdirs

    with owned_tempdir(tmp_path, "x-") as live:
        old = time.time() - 7200
        os.utime(live / OWNER_FILE, (old, old))
        assert sweep_stale_tempdirs(tmp_path, "x-") == [] and live.exists()  # its owner holds the lock
    assert not live.exists()


# ------------------------------------------------------------------ item 4: Ctrl-C and kill -9 during a build
SLOW_BUILD = """
import sys
from orl.data import registry
from orl.data.collect import collect


def build():  # several minutes of work in 4 shards on 2 worker processes
    return collect("Pendulum-v1", None, 4_000_000, shards=4, workers=2, n_envs=4, progress="slow-build")


if __name__ == "__main__":
    registry.register_dataset(registry.DatasetInfo(name="slow-test", env_id="Pendulum-v1", build=build,
                                                   description="test"))
    from orl.data.build import main
    from orl.utils.cli import run_cli

    raise SystemExit(run_cli(main))
"""


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out.update(kids)
            todo.extend(kids)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended (a container's init may not reap it)


def _survivors(pids: set[int], wait_s: float = 5.0) -> list[int]:
    """The processes of ``pids`` still alive after waiting up to ``wait_s`` for them to end."""
    deadline = time.time() + wait_s
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _start_slow_build(tmp_path: Path) -> subprocess.Popen:
    script = tmp_path / "slow_build.py"
    script.write_text(SLOW_BUILD)
    env = {**os.environ, "ORL_DATA_DIR": str(tmp_path / "orl"), "PYTHONPATH": os.pathsep.join(
        [str(REPO), str(REPO / "envs"), os.environ.get("PYTHONPATH", "")])}
    # SIGINT's default action, as in a terminal: a shell starts background jobs (CI steps among them)
    # with SIGINT ignored, and Python then never raises KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, str(script), "slow-test"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    deadline = time.time() + 60
    while "slow-build" not in seen:  # the first worker reports progress: the workers are running
        assert time.time() < deadline and proc.poll() is None, seen
        seen += proc.stderr.read(1)
    time.sleep(1.0)
    proc.stderr_head = seen  # type: ignore[attr-defined]
    return proc


def _kill_all(proc: subprocess.Popen, pids: set[int]) -> None:
    for pid in [proc.pid, *pids]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_stops_a_build_promptly_and_keeps_nothing(tmp_path):
    proc = _start_slow_build(tmp_path)
    workers = _descendants(proc.pid)
    assert workers
    try:
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("the build ignored Ctrl-C for 10 s")
        assert time.time() - t0 < 5
    finally:
        _kill_all(proc, workers)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    last = [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]
    assert last == ("interrupted: the build of slow-test was stopped; nothing of it was kept "
                    "(run the same command to build it again)")
    assert not _survivors(workers)
    minari_dir = tmp_path / "orl" / "minari"
    assert not minari_dir.exists() or not any(minari_dir.rglob("*.hdf5"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_a_build_kills_its_workers(tmp_path):
    proc = _start_slow_build(tmp_path)
    workers = _descendants(proc.pid)
    assert workers
    try:
        proc.kill()
        proc.wait()
        assert not _survivors(workers), "workers outlived their killed parent"
    finally:
        _kill_all(proc, workers)


# ------------------------------------------------------------------ item 5: ORL_DATA_DIR, a closed stdout
def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {str(path): path.read_bytes()}
    return {str(p): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", [["-m", "orl.data.build", "pendulum-random"], ["-m", "orl.diagnose", "pendulum-random"]])
def test_an_orl_data_dir_that_is_a_file_is_one_clear_error(tmp_path, command):
    bad = tmp_path / "not-a-dir"
    bad.write_text("x")
    proc = run(command, bad)
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert f"ORL_DATA_DIR {bad} cannot be used: {bad}: is a file, not a directory" in line
    assert bad.read_text() == "x"


def test_a_read_only_orl_data_dir_is_one_clear_error_and_still_serves_built_data(tmpfs, built_cache):
    ro = tmpfs("4m")
    shutil.copytree(built_cache, ro / "orl")
    remount = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    before = _snapshot(ro)
    proc = run(["-m", "orl.data.build", "pendulum-scripted"], ro / "orl")
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert f"ORL_DATA_DIR {ro / 'orl'} cannot be used" in line and "read-only file system" in line
    served = run(["-m", "orl.diagnose", "pendulum-random"], ro / "orl")  # built data still load
    assert served.returncode == 0 and "transitions        20000" in served.stdout, served.stderr[-2000:]
    assert _snapshot(ro) == before


def test_a_read_only_orl_data_dir_without_mounting(tmp_path, monkeypatch):
    """The same as the mounted test where root ignores permissions: the lock file cannot be created."""
    import builtins

    monkeypatch.setenv("ORL_DATA_DIR", str(tmp_path))
    real_open = builtins.open

    def read_only(file, mode="r", *args, **kwargs):
        if str(file).startswith(str(tmp_path)) and any(c in mode for c in "wax+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    with pytest.raises(DatasetError, match=rf"ORL_DATA_DIR {tmp_path} cannot be used: .*read-only file system"):
        registry.build_dataset("pendulum-random")


def test_diagnose_into_a_closed_pipe_ends_quietly(built_cache):
    """``python -m orl.diagnose ... | head -1``: the reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = run(["-m", "orl.diagnose", "pendulum-random"], built_cache, stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr[-2000:]


def test_routing_solutions_in_an_orl_data_dir_that_is_a_file_are_one_clear_error(tmp_path, monkeypatch):
    from orl.data.routing import solved_set

    bad = tmp_path / "not-a-dir"
    bad.write_text("x")
    monkeypatch.setenv("ORL_DATA_DIR", str(bad))
    with pytest.raises(DatasetError, match=rf"{bad}: is a file, not a directory \(while writing {bad}/routing/"):
        solved_set("tsp", 10, 2, method="farthest_insertion", progress=False)
    assert bad.read_text() == "x"
