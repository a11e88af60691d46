#!/usr/bin/env python3
"""All-reduce bandwidth, side by side: gptlab's collectives (gptlab-dist: c10d's Gloo through
the C++ shim) vs torch.distributed's Gloo in Python, 2 processes on loopback, the same float32
tensors (1, 16 and 64 MiB by default), the same protocol on both sides: per size, 2 untimed
all-reduces, then ROUNDS_PER_RUN timed ones, each after a barrier, timed on rank 0 until the
in-place sum completes. Both are started by torchrun. Runs alternate, RUNS times; prints the
median bandwidth (tensor bytes / time) per size as min/median/max over runs, and the ratio
gptlab / torch of the medians (>= 1: gptlab at least as fast).

gptlab opens two Gloo connection sets by default (GPTLAB_GLOO_LANES) and runs an all-reduce of
4 MiB or more as one piece per set, at once. `--peer-lanes N` gives torch the same: N loopback
devices (GLOO_SOCKET_IFNAME=lo,...,lo) and such tensors split into N async all-reduces; the
default (1) is torch.distributed as it comes.

    .venv/bin/python bench/allreduce_vs_torch.py [--runs 5] [--rounds 10] [--sizes-mib 1,16,64] [--peer-lanes 1]
"""
import argparse, json, os, socket, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


def worker(sizes_mib, rounds, threads, lanes):
    import torch, torch.distributed as dist
    torch.set_num_threads(threads)
    dist.init_process_group("gloo")
    for mib in sizes_mib:
        nbytes = int(mib * 1048576)
        t = torch.ones(max(nbytes // 4, 1), dtype=torch.float32)
        pieces = t.chunk(lanes) if lanes > 1 and nbytes >= 4 << 20 else [t]
        times = []
        for i in range(rounds + 2):
            dist.barrier()
            t0 = time.perf_counter()
            if len(pieces) == 1:
                dist.all_reduce(t)
            else:
                for w in [dist.all_reduce(p, async_op=True) for p in pieces]:
                    w.wait()
            if i >= 2:
                times.append(time.perf_counter() - t0)
        times.sort()
        med = times[len(times) // 2]
        if dist.get_rank() == 0:
            print(json.dumps({"bench": "allreduce", "bytes": nbytes, "world_size": dist.get_world_size(), "backend": "gloo", "ms_median": med * 1e3, "algbw_gbs": nbytes / med / 1e9}), flush=True)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, extra_env):
    cmd = [TORCHRUN, "--nproc-per-node", "2", "--master-port", str(free_port())] + cmd
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **extra_env})
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return {r["bytes"]: r["algbw_gbs"] for r in (json.loads(l) for l in out.stdout.splitlines() if l.startswith("{"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--sizes-mib", default="1,16,64")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peer-lanes", type=int, default=1)
    ap.add_argument("--worker", action="store_true")
    a = ap.parse_args()
    sizes = [float(s) for s in a.sizes_mib.split(",")]
    if a.worker:
        return worker(sizes, a.rounds, a.threads, a.peer_lanes)
    import torch
    ours = ["--no-python", os.path.join(ROOT, "target/release/gptlab"), "bench", "allreduce", "--rounds", str(a.rounds), "--sizes-mib", a.sizes_mib, "--threads", str(a.threads)]
    peer = [os.path.abspath(__file__), "--worker", "--rounds", str(a.rounds), "--sizes-mib", a.sizes_mib, "--threads", str(a.threads), "--peer-lanes", str(a.peer_lanes)]
    peer_env = {"GLOO_SOCKET_IFNAME": ",".join(["lo"] * a.peer_lanes)} if a.peer_lanes > 1 else {}
    g, t = {}, {}
    for r in range(a.runs):
        for name, cmd, acc, env in (("gptlab", ours, g, {}), ("torch", peer, t, peer_env)) if r % 2 == 0 else (("torch", peer, t, peer_env), ("gptlab", ours, g, {})):
            for b, bw in run(cmd, env).items():
                acc.setdefault(b, []).append(bw)
    lanes = os.environ.get("GPTLAB_GLOO_LANES", "2 (default)")
    print(f"all-reduce (sum, float32, 2 processes, loopback Gloo), {a.runs} runs x {a.rounds} rounds; torch {torch.__version__}; gptlab lanes {lanes}, torch lanes {a.peer_lanes}")
    print(f"{'size':>8}  {'gptlab GB/s min/med/max':>26}  {'torch GB/s min/med/max':>26}  ratio")
    for b in sorted(g):
        fmt = lambda v: f"{min(v):.3f}/{statistics.median(v):.3f}/{max(v):.3f}"
        print(f"{b / 1048576:>6.0f}Mi  {fmt(g[b]):>26}  {fmt(t[b]):>26}  {statistics.median(g[b]) / statistics.median(t[b]):.2f}x")


if __name__ == "__main__":
    main()
