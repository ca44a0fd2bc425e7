#!/usr/bin/env python3
"""nnkit against PyTorch, side by side in one run.

Measures one training epoch of the Fashion-MNIST MLP (784-256-128-10, batch 64, Adam 1e-3,
sparse categorical cross-entropy, 60000 random samples) in nnkit (build/bench/dense_bench)
and in PyTorch, alternating the two for --rounds rounds, and reports the median of each and
their ratio: absolute times drift on a shared machine, ratios measured side by side much
less. Also reports nnkit::gemm against a raw dnnl_sgemm call and against torch.mm.

    bench/compare_pytorch.py [--build DIR] [--rounds N] [--threads N] [--json] [--torch-only]

PyTorch runs in a child process, because OpenBLAS and OpenMP read their environment when
torch is imported. See bench/README.md for the settings and why.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives here, not in pyenv's python
REPO = Path(__file__).resolve().parent.parent
SAMPLES = 60000  # what BM_MlpFitEpoch trains on
EPOCHS_PER_ROUND = 3  # BM_MlpFitEpoch runs 3 iterations; the torch child does the same
MATMUL_N = 2048


def fail(message, code=2):
    print(f"compare_pytorch.py: {message}", file=sys.stderr)
    sys.exit(code)


def ensure_torch():
    """Re-executes under Debian's python if this one has no torch (without importing it here)."""
    if importlib.util.find_spec("torch") is not None:
        return
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.path.exists(SYSTEM_PYTHON):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, str(Path(__file__).resolve()), *sys.argv[1:]])
    fail("PyTorch not found: install python3-torch (NNKIT_SETUP_TORCH=1 scripts/setup)")


def torch_env(threads, blas_threads):
    return dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OPENBLAS_NUM_THREADS=str(blas_threads),
                OMP_NUM_THREADS=str(threads))


# --- the PyTorch side (runs in a child process with torch_env) -----------------------------

def torch_worker(args):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_name()}
    if args.torch_worker == "matmul":
        a, b = torch.rand(MATMUL_N, MATMUL_N), torch.rand(MATMUL_N, MATMUL_N)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        out["gflops"] = 2.0 * MATMUL_N**3 / best / 1e9
    else:
        n = args.samples
        rng = np.random.default_rng(4)
        x = torch.from_numpy(rng.uniform(-1, 1, (n, 784)).astype(np.float32))
        y = torch.from_numpy(rng.integers(0, 10, n))
        torch.manual_seed(1)
        nn = torch.nn
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        # foreach: the multi-tensor Adam step, faster here than 1.13's default per-tensor loop.
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
        loss_fn = nn.CrossEntropyLoss()  # softmax + cross-entropy on logits: nnkit's fused path
        times = []
        for _ in range(EPOCHS_PER_ROUND):  # like model.fit(epochs=1) called 3 times
            t0 = time.perf_counter()
            perm = torch.randperm(n)
            loss_sum = 0.0
            for i in range(0, n, 64):
                idx = perm[i:i + 64]
                xb, yb = x[idx], y[idx]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(idx)  # fit() keeps the epoch's mean loss too
            times.append((time.perf_counter() - t0) * 1e3)
        out["epoch_ms"] = times
        out["loss"] = loss_sum / n
    print(json.dumps(out))


def blas_name():
    """The BLAS torch loaded, and the core OpenBLAS picked, e.g. 'OpenBLAS 0.3.21 ... SkylakeX'."""
    import ctypes

    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if ".so" in line}
    blas = [p for p in libs if "blas" in os.path.basename(p)]
    for path in blas:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib.openblas_get_config().decode()
        except (OSError, AttributeError):
            pass
    return ", ".join(sorted(blas)) or "none found"


def run_torch(kind, args, blas_threads):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-worker", kind,
           "--threads", str(args.threads), "--samples", str(args.samples)]
    proc = subprocess.run(cmd, env=torch_env(args.threads, blas_threads), capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"the PyTorch child failed:\n{proc.stderr}", code=1)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["blas"].startswith("OpenBLAS"):
        print(f"compare_pytorch.py: warning: torch is not using OpenBLAS ({result['blas']}); "
              "install libopenblas0-pthread (NNKIT_SETUP_TORCH=1 scripts/setup)", file=sys.stderr)
    return result


# --- the nnkit side ------------------------------------------------------------------------

def run_bench(binary, bench_filter, threads):
    """Runs a Google Benchmark binary; returns {name: result} of its JSON output."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        # --benchmark_out keeps the JSON apart from anything else the program prints.
        cmd = [str(binary), f"--benchmark_filter={bench_filter}", "--benchmark_format=json",
               f"--benchmark_out={out}", "--benchmark_out_format=json"]
        proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS=str(threads)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0 or not out.exists():
            fail(f"{binary.name} failed (exit {proc.returncode}):\n{proc.stderr}", code=1)
        data = json.loads(out.read_text())
    return {b["name"]: b for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"}


def to_ms(bench):
    return bench["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[bench["time_unit"]]


def find(results, prefix):
    hits = [b for name, b in results.items() if name == prefix or name.startswith(prefix + "/")]
    if not hits:
        fail(f"no benchmark named {prefix} in the output", code=1)
    return hits[0]


# --- the run -------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, default=REPO / "build", help="build directory (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved nnkit/PyTorch rounds (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="threads for both, nnkit (OMP_NUM_THREADS) "
                                                               "and torch (set_num_threads) (default: 2)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--torch-only", action="store_true", help="measure PyTorch alone (no build needed)")
    parser.add_argument("--samples", type=int, default=SAMPLES, help=argparse.SUPPRESS)  # smoke tests
    parser.add_argument("--torch-worker", choices=["mlp", "matmul"], help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.rounds < 1 or args.threads < 1 or args.samples < 1:
        parser.error("--rounds, --threads and --samples must be positive")
    if args.samples != SAMPLES and not (args.torch_only or args.torch_worker):
        parser.error(f"--samples other than {SAMPLES} only with --torch-only (dense_bench trains on {SAMPLES})")

    ensure_torch()
    if args.torch_worker:
        return torch_worker(args)

    dense = args.build / "bench" / "dense_bench"
    gemm = args.build / "bench" / "gemm_bench"
    if not args.torch_only:
        missing = [str(p) for p in (dense, gemm) if not os.access(p, os.X_OK)]
        if missing:
            build = os.path.relpath(args.build)
            build = build if not build.startswith("..") else str(args.build)
            fail(f"missing {', '.join(missing)}: build first: cmake --build {build}")

    say = (lambda *a: None) if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    load_before = os.getloadavg()[0]
    if load_before >= 1.0:
        print(f"compare_pytorch.py: warning: the machine is busy (1-minute load {load_before:.1f} on "
              f"{os.cpu_count()} cores): OpenMP code on busy cores slows unevenly; figures will be unreliable",
              file=sys.stderr)
    nnkit_ms, torch_ms, torch_info = [], [], {}
    for r in range(args.rounds):
        # Alternate who goes first, so a slow spell of the machine does not always hit the same side.
        for side in (("nnkit", "torch") if r % 2 == 0 else ("torch", "nnkit")):
            if side == "nnkit" and not args.torch_only:
                say(f"round {r + 1}/{args.rounds}: nnkit MLP epoch")
                nnkit_ms.append(to_ms(find(run_bench(dense, "BM_MlpFitEpoch", args.threads), "BM_MlpFitEpoch")))
            elif side == "torch":
                say(f"round {r + 1}/{args.rounds}: PyTorch MLP epoch")
                torch_info = run_torch("mlp", args, blas_threads=1)
                torch_ms.append(statistics.mean(torch_info["epoch_ms"]))  # as Google Benchmark's real_time

    say("PyTorch matmul")
    matmul = run_torch("matmul", args, blas_threads=args.threads)
    gemm_results = {}
    if not args.torch_only:
        say("nnkit gemm")
        gemm_results = run_bench(gemm, "BM_(NnkitGemm|RawDnnlSgemm)/(1024|2048)", args.threads)

    def gflops(name, n):
        return find(gemm_results, f"{name}/{n}")["GFLOP/s"] / 1e9 if gemm_results else None

    def row(item, unit, nnkit, other_name, other, higher_is_better):
        ratio = None
        if nnkit is not None and other is not None:
            ratio = nnkit / other if higher_is_better else other / nnkit
        return {"item": item, "unit": unit, "nnkit": nnkit, "vs": other_name, "other": other, "ratio": ratio}

    mlp_label = f"MLP epoch, {args.samples} samples"
    rows = [
        row(mlp_label, "ms", statistics.median(nnkit_ms) if nnkit_ms else None,
            "PyTorch", statistics.median(torch_ms), False),
        row(f"sgemm {MATMUL_N}", "GFLOP/s", gflops("BM_NnkitGemm", MATMUL_N), "torch.mm", matmul["gflops"], True),
    ]
    for n in (1024, 2048):
        rows.append(row(f"sgemm {n}", "GFLOP/s", gflops("BM_NnkitGemm", n), "raw dnnl_sgemm",
                        gflops("BM_RawDnnlSgemm", n), True))
    report = {
        "rows": rows,
        "rounds": {"nnkit_mlp_ms": nnkit_ms, "torch_mlp_ms": torch_ms},
        "settings": {"load_before": load_before, "load_after": os.getloadavg()[0], "threads": args.threads, "rounds": args.rounds, "torch": torch_info.get("torch"),
                     "torch_blas": torch_info.get("blas"), "OPENBLAS_CORETYPE": "SkylakeX",
                     "OPENBLAS_NUM_THREADS": {"mlp": 1, "matmul": args.threads}},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


def print_table(report):
    fmt = lambda v: "-" if v is None else f"{v:.1f}"
    lines = [("item", "nnkit", "PyTorch / raw", "ratio")]
    for r in report["rows"]:
        lines.append((f"{r['item']} ({r['unit']}) vs {r['vs']}", fmt(r["nnkit"]), fmt(r["other"]),
                      "-" if r["ratio"] is None else f"{r['ratio']:.2f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    for line in lines:
        print(f"{line[0]:<{widths[0]}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(line[1:], widths[1:])))
    s = report["settings"]
    print(f"\nratio > 1: nnkit faster (other's time / nnkit's time). MLP: median of {s['rounds']} interleaved "
          f"rounds, each the mean of {EPOCHS_PER_ROUND} epochs. {s['threads']} threads; torch {s['torch']} "
          f"on {s['torch_blas']}.")


if __name__ == "__main__":
    main()
