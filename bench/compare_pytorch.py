#!/usr/bin/env python3
"""nnkit against PyTorch, side by side in one run.

Measures one training epoch of the Fashion-MNIST MLP (784-256-128-10, batch 64, Adam 1e-3,
sparse categorical cross-entropy, 60000 random samples) in nnkit (build/bench/dense_bench)
and in PyTorch, alternating the two for --rounds rounds, and reports the median of each and
their ratio: absolute times drift on a shared machine, ratios measured side by side much
less. Also reports nnkit::gemm against a raw dnnl_sgemm call and against torch.mm.

The recurrent comparison (--suite rnn, or all, the default): training steps of LSTM and GRU
models (forward, MSE loss on a Dense(1) head over the last output, backward, SGD) in nnkit
(`nnkit bench --json`) and in PyTorch under three settings -- (a) as installed, (b) tuned:
OpenBLAS forced to SkylakeX, 1 torch thread, 2 OpenBLAS threads, (c) OpenBLAS forced to
SkylakeX, 2 torch threads, 1 OpenBLAS thread -- with the ratio of the fastest PyTorch to
nnkit; a one-step streaming forward at batch 1, and the peak resident set of a training run. When
built, oneDNN's own LSTM and GRU primitives (build/bench/rnn_primitive_bench) are timed in the
same rounds, the bar the issue's table names.

The Fashion-MNIST comparison (--suite fashion, not part of all: it takes minutes): the example
specs examples/fashion_mnist/{mlp,cnn,cnn_bn}.json trained on the real data set (Debian's
dataset-fashion-mnist) by `nnkit train --idx` and by the same model built from the same spec in
PyTorch (fastest setting (c); batch 64, Adam 1e-3), epoch by epoch, then both evaluated on the
test set: seconds per epoch, test accuracy, inference images per second, and the ratios.

    bench/compare_pytorch.py [--build DIR] [--rounds N] [--threads N] [--json] [--torch-only]
                             [--suite all|mlp|rnn|fashion] [--models lstm,gru] [--configs NAME,...]
                             [--specs mlp,cnn] [--epochs N]

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

# The recurrent configurations, as `nnkit bench` names them: input features I, hidden units H,
# stacked layers (all but the last return sequences), batch, time steps. "stream" is one
# streaming step at batch 1, the state carried from call to call (nnkit: Recurrent::step;
# torch: LSTMCell/GRUCell).
RNN_CONFIGS = {
    "reference": (6, 128, 1, 1, 64),
    "batch32": (6, 128, 1, 32, 64),
    "stacked": (64, 256, 2, 64, 100),
    "wide": (256, 512, 1, 128, 50),
    "stream": (6, 128, 1, 1, 1),
}
RNN_MODELS = ("lstm", "gru")
RNN_INNER_ROUNDS = 3  # timed rounds inside each nnkit or torch run; their median is the run's figure
RNN_WARMUP = 2  # untimed steps first, on both sides
# The PyTorch settings. (a) strips what the caller's environment may hold, so that it is
# torch as a user gets it; (b) and (c) set exactly the variables named, before torch loads.
TORCH_SETTINGS = {
    "a": {"label": "as installed", "env": {}, "torch_threads": None},
    "b": {"label": "SkylakeX, 1 torch thread, 2 BLAS threads",
          "env": {"OPENBLAS_CORETYPE": "SkylakeX", "OPENBLAS_NUM_THREADS": "2"}, "torch_threads": 1},
    "c": {"label": "SkylakeX, 2 torch threads, 1 BLAS thread",
          "env": {"OPENBLAS_CORETYPE": "SkylakeX", "OPENBLAS_NUM_THREADS": "1"}, "torch_threads": 2},
}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "GOTO_NUM_THREADS",
               "MKL_NUM_THREADS")


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

    if args.torch_worker == "rnn":
        return torch_rnn_worker(args)
    if args.torch_worker == "fashion":
        return torch_fashion_worker(args)
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


def time_rounds(step, rounds, warmup):
    """As `nnkit bench`: warm-up, then rounds of about 0.2 s; ms per step of each round."""
    fastest = float("inf")
    for _ in range(max(warmup, 1)):  # the fastest warm-up step sizes the rounds, as in nnkit bench
        t0 = time.perf_counter()
        step()
        fastest = min(fastest, (time.perf_counter() - t0) * 1e3)
    per_round = int(min(max(200.0 / max(fastest, 1e-3), 1), 10000))
    round_ms = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per_round):
            step()
        round_ms.append((time.perf_counter() - t0) * 1e3 / per_round)
    return round_ms, per_round


def torch_rnn_worker(args):
    import numpy as np
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    nn = torch.nn
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_name(),
           "results": []}
    for model_name in args.models.split(","):
        for config in args.configs.split(","):
            features, units, layers, batch, steps = RNN_CONFIGS[config]
            rng = np.random.default_rng(7)
            x = torch.from_numpy(rng.uniform(-1, 1, (batch, steps, features)).astype(np.float32))
            y = torch.from_numpy(rng.uniform(-1, 1, (batch, 1)).astype(np.float32))
            torch.manual_seed(1)
            loss_value = None
            if config == "stream":
                cell = (nn.LSTMCell if model_name == "lstm" else nn.GRUCell)(features, units)
                x1 = x[:, 0]
                state = [None]

                def step():
                    with torch.no_grad():  # inference, as nnkit's Mode::Infer
                        state[0] = cell(x1, state[0])  # the state carried from step to step
            else:
                rnn = (nn.LSTM if model_name == "lstm" else nn.GRU)(features, units, num_layers=layers,
                                                                   batch_first=True)
                head = nn.Linear(units, 1)
                params = list(rnn.parameters()) + list(head.parameters())
                optimizer = torch.optim.SGD(params, lr=0.01)
                loss_fn = nn.MSELoss()
                last = [0.0]

                def step():
                    optimizer.zero_grad(set_to_none=True)
                    seq, _ = rnn(x)
                    loss = loss_fn(head(seq[:, -1]), y)
                    loss.backward()
                    optimizer.step()
                    last[0] = loss.item()  # as train_on_batch, which returns the loss
            round_ms, per_round = time_rounds(step, args.inner_rounds, RNN_WARMUP)
            if config != "stream":
                loss_value = last[0]
            out["results"].append({"model": model_name, "config": config, "round_ms": round_ms,
                                   "steps_per_round": per_round, "ms_per_step": statistics.median(round_ms),
                                   "loss": loss_value})
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


# --- the recurrent comparison --------------------------------------------------------------

def rnn_torch_env(setting):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(TORCH_SETTINGS[setting]["env"])
    return env


def run_child(cmd, env, who):
    """Runs cmd; returns (stdout, peak resident set in MiB from wait4: ru_maxrss of the child)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            fail(f"{who} failed (exit {proc.returncode}):\n{err.read()}", code=1)
        return out.read(), usage.ru_maxrss / 1024.0  # Linux: KiB


def run_nnkit_rnn(args, models, configs):
    cmd = [str(args.build / "nnkit"), "--threads", str(args.threads), "bench", "--json",
           "--model", models if "," not in models else "all", "--config", configs,
           "--rounds", str(RNN_INNER_ROUNDS), "--warmup", str(RNN_WARMUP)]
    text, rss = run_child(cmd, dict(os.environ, OMP_NUM_THREADS=str(args.threads)), "nnkit bench")
    data = json.loads(text)
    return {(r["model"], r["config"]): r for r in data["results"]}, rss


def run_torch_rnn(args, setting, models, configs):
    torch_threads = TORCH_SETTINGS[setting]["torch_threads"]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-worker", "rnn", "--models", models,
           "--configs", configs, "--inner-rounds", str(RNN_INNER_ROUNDS)]
    if torch_threads:
        cmd += ["--torch-threads", str(torch_threads)]
    text, rss = run_child(cmd, rnn_torch_env(setting), f"the PyTorch child ({setting})")
    data = json.loads(text.strip().splitlines()[-1])
    data["by_key"] = {(r["model"], r["config"]): r for r in data["results"]}
    return data, rss


# oneDNN's own RNN primitives (build/bench/rnn_primitive_bench), the bar the issue names: the
# benchmark's argument for each configuration it has (a training step has no "stream").
ONEDNN_CONFIG_ARGS = {"reference": 0, "batch32": 1, "stacked": 2, "wide": 3}


def run_onednn_rnn(args, models, configs):
    """{(model, config): ms} of oneDNN's LSTM / lbr_gru primitives, forward and backward."""
    names = {"lstm": "BM_OneDnnLSTMTrainStep", "gru": "BM_OneDnnGRUTrainStep"}
    wanted = {f"{names[m]}/{ONEDNN_CONFIG_ARGS[c]}/real_time": (m, c)
              for m in models for c in configs if c in ONEDNN_CONFIG_ARGS}
    if not wanted:
        return {}
    pattern = "^(" + "|".join(name.replace("/real_time", "") for name in wanted) + ")/"
    results = run_bench(args.build / "bench" / "rnn_primitive_bench", pattern, args.threads)
    return {key: to_ms(results[name]) for name, key in wanted.items() if name in results}


def run_rnn(args, say):
    models = [m for m in args.models.split(",") if m]
    configs = [c for c in args.configs.split(",") if c]
    m_arg, c_arg = ",".join(models), ",".join(configs)
    sides = ["nnkit", "a", "b", "c"] if not args.torch_only else ["a", "b", "c"]
    onednn = args.build / "bench" / "rnn_primitive_bench"
    if not args.torch_only and os.access(onednn, os.X_OK) and any(c in ONEDNN_CONFIG_ARGS for c in configs):
        sides.append("onednn")
    times = {side: {} for side in sides}  # side -> (model, config) -> [ms per round]
    info = {}
    for r in range(args.rounds):
        # Alternate the order, so that a slow spell of the machine does not always hit one side.
        for side in (sides if r % 2 == 0 else sides[::-1]):
            label = {"nnkit": "nnkit", "onednn": "oneDNN's RNN primitives"}.get(side, f"PyTorch ({side})")
            say(f"round {r + 1}/{args.rounds}: {label} recurrent")
            if side == "nnkit":
                by_key, _ = run_nnkit_rnn(args, m_arg, c_arg)
            elif side == "onednn":
                by_key = {key: {"ms_per_step": ms} for key, ms in run_onednn_rnn(args, models, configs).items()}
            else:
                info[side], _ = run_torch_rnn(args, side, m_arg, c_arg)
                by_key = info[side]["by_key"]
            for key, res in by_key.items():
                times[side].setdefault(key, []).append(res["ms_per_step"])

    rows = []
    for model in models:
        for config in configs:
            key = (model, config)
            med = {side: statistics.median(times[side][key]) for side in sides if key in times[side]}
            fastest = min(("a", "b", "c"), key=lambda s: med[s])
            onednn_ms = med.get("onednn")
            rows.append({"model": model, "config": config, "shape": RNN_CONFIGS[config],
                         "nnkit_ms": med.get("nnkit"), "torch_ms": {s: med[s] for s in "abc"},
                         "fastest": fastest,
                         "ratio": med[fastest] / med["nnkit"] if "nnkit" in med else None,
                         "onednn_ms": onednn_ms,
                         "onednn_ratio": onednn_ms / med["nnkit"] if onednn_ms and "nnkit" in med else None})

    # Memory: a training run of the reference configuration, each in its own child process.
    memory = {}
    if "lstm" in models:
        say("peak resident set: the reference LSTM training run")
        if not args.torch_only:
            _, memory["nnkit"] = run_nnkit_rnn(args, "lstm", "reference")
        for s in "abc":
            _, memory[s] = run_torch_rnn(args, s, "lstm", "reference")
    for s in "abc":
        info[s].pop("by_key", None)
    settings = {s: {"label": TORCH_SETTINGS[s]["label"], "env": TORCH_SETTINGS[s]["env"],
                    "torch_threads": info[s]["threads"], "blas": info[s]["blas"]} for s in "abc"}
    return {"rows": rows, "peak_rss_mib": memory, "torch_settings": settings,
            "rounds": {side: {f"{m}/{c}": v for (m, c), v in t.items()} for side, t in times.items()},
            "inner_rounds": RNN_INNER_ROUNDS, "warmup": RNN_WARMUP}


# --- the Fashion-MNIST comparison ----------------------------------------------------------

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_SPECS = ("mlp", "cnn", "cnn_bn")
FASHION_BATCH = 64


def read_idx(path):
    """An IDX file (gzip) as a numpy array: the magic's type byte, then big-endian dimensions."""
    import gzip

    import numpy as np

    data = gzip.open(path, "rb").read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_files(part):
    prefix = "train" if part == "train" else "t10k"
    return (FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz", FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz")


def torch_model_from_spec(spec):
    """The spec's layers as torch modules, with Keras's semantics where they differ from torch's
    defaults (BatchNormalization momentum and epsilon); torch's own initialisation. The output
    softmax is left out: CrossEntropyLoss takes logits, as nnkit fuses softmax + cross-entropy."""
    import torch.nn as nn

    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    shape = list(spec["input_shape"])
    modules = []
    for i, layer in enumerate(spec["layers"]):
        kind = layer["type"]
        last = i == len(spec["layers"]) - 1
        act = layer.get("activation", "linear")
        if kind == "Flatten":
            modules.append(nn.Flatten())
            n = 1
            for d in shape:
                n *= d
            shape = [n]
        elif kind == "Dense":
            modules.append(nn.Linear(shape[0], layer["units"], bias=layer.get("use_bias", True)))
            shape = [layer["units"]]
        elif kind == "Conv2D":
            k = layer["kernel_size"]
            if layer.get("padding", "valid") != "same" or layer.get("strides", 1) != 1:
                fail(f"--suite fashion: the PyTorch side builds Conv2D with same padding and stride 1 only")
            modules.append(nn.Conv2d(shape[0], layer["filters"], k, padding="same",
                                     bias=layer.get("use_bias", True)))
            shape = [layer["filters"], shape[1], shape[2]]
        elif kind == "MaxPooling2D":
            p = layer.get("pool_size", 2)
            modules.append(nn.MaxPool2d(p))
            shape = [shape[0], shape[1] // p, shape[2] // p]
        elif kind == "BatchNormalization":
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            modules.append(bn(shape[0], eps=layer.get("epsilon", 1e-3), momentum=1 - layer.get("momentum", 0.99)))
        elif kind == "ReLU":
            modules.append(nn.ReLU())
        elif kind == "Dropout":
            modules.append(nn.Dropout(layer["rate"]))
        else:
            fail(f"--suite fashion: the PyTorch side has no {kind}")
        if act == "softmax" and last:
            continue
        if act not in ("linear", "softmax"):
            modules.append(acts[act]())
    return nn.Sequential(*modules)


def torch_fashion_worker(args):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    spec = json.loads(Path(args.spec).read_text())
    images, labels = fashion_files("train")
    x = torch.from_numpy(read_idx(images).astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(read_idx(labels).astype(np.int64))
    test_images, test_labels = fashion_files("test")
    xt = torch.from_numpy(read_idx(test_images).astype(np.float32) / 255.0).unsqueeze(1)
    yt = torch.from_numpy(read_idx(test_labels).astype(np.int64))
    torch.manual_seed(spec.get("seed", 1))
    model = torch_model_from_spec(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    epochs = []
    n = len(x)
    for _ in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        loss_sum = 0.0
        for i in range(0, n, FASHION_BATCH):
            idx = perm[i:i + FASHION_BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
        epochs.append({"seconds": time.perf_counter() - t0, "loss": loss_sum / n})
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        logits = torch.cat([model(xt[i:i + 256]) for i in range(0, len(xt), 256)])
        infer_s = time.perf_counter() - t0
    accuracy = (logits.argmax(1) == yt).float().mean().item()
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_name(),
                      "epochs": epochs, "test_accuracy": accuracy, "images_per_s": len(xt) / infer_s}))


def run_nnkit_fashion(args, spec_path, workdir):
    """`nnkit train --idx` for --epochs epochs with a --log (its seconds column times each
    epoch), then `nnkit evaluate --json` on the test set, batches of 256 (its samples_per_second
    times the forward passes alone, as the PyTorch side is timed)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    nnkit = str(args.build / "nnkit")
    model, log = workdir / "model.safetensors", workdir / "log.csv"
    images, labels = fashion_files("train")
    run_child([nnkit, "--threads", str(args.threads), "train", "--spec", str(spec_path), "--idx", str(images),
               "--labels", str(labels), "--epochs", str(args.epochs), "--batch-size", str(FASHION_BATCH),
               "--optimizer", "adam", "--lr", "0.001", "--quiet", "--log", str(log), "--out", str(model)],
              env, "nnkit train")
    rows = [line.split(",") for line in log.read_text().splitlines()]
    header = rows[0]
    epochs = [{"seconds": float(r[header.index("seconds")]), "loss": float(r[header.index("loss")])}
              for r in rows[1:]]
    test_images, test_labels = fashion_files("test")
    text, _ = run_child([nnkit, "--threads", str(args.threads), "evaluate", "--model", str(model), "--idx",
                         str(test_images), "--labels", str(test_labels), "--batch-size", "256", "--json"], env,
                        "nnkit evaluate")
    result = json.loads(text)
    return {"epochs": epochs, "test_accuracy": result["accuracy"], "images_per_s": result["samples_per_second"]}


def run_fashion(args, say):
    for path in (*fashion_files("train"), *fashion_files("test")):
        if not path.exists():
            fail(f"{path} not found: install dataset-fashion-mnist (scripts/setup)")
    results = []
    for name in [s for s in args.specs.split(",") if s]:
        spec_path = REPO / "examples" / "fashion_mnist" / f"{name}.json"
        row = {"spec": name}
        for r in range(args.rounds):
            for side in (("nnkit", "torch") if r % 2 == 0 else ("torch", "nnkit")):
                if side == "nnkit" and not args.torch_only:
                    say(f"round {r + 1}/{args.rounds}: nnkit {name}, {args.epochs} epochs")
                    with tempfile.TemporaryDirectory() as tmp:
                        row.setdefault("nnkit", []).append(run_nnkit_fashion(args, spec_path, Path(tmp)))
                elif side == "torch":
                    say(f"round {r + 1}/{args.rounds}: PyTorch {name}, {args.epochs} epochs")
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-worker", "fashion",
                           "--threads", str(args.threads), "--spec", str(spec_path), "--epochs", str(args.epochs)]
                    text, _ = run_child(cmd, rnn_torch_env("c"), "the PyTorch child (fashion)")
                    row.setdefault("torch", []).append(json.loads(text.strip().splitlines()[-1]))
        results.append(row)
    return results


def summarise_fashion(runs):
    """Median epoch seconds over every epoch of every round, the last round's accuracy, median
    inference images per second."""
    seconds = statistics.median(e["seconds"] for run in runs for e in run["epochs"])
    return {"epoch_s": seconds, "test_accuracy": [run["test_accuracy"] for run in runs],
            "images_per_s": statistics.median(run["images_per_s"] for run in runs)}


def print_fashion_table(results, machine):
    lines = [("spec", "nnkit s/epoch", "torch s/epoch", "ratio", "nnkit acc", "torch acc",
              "nnkit img/s", "torch img/s", "ratio")]
    for row in results:
        t = summarise_fashion(row["torch"])
        n = summarise_fashion(row["nnkit"]) if "nnkit" in row else None
        acc = lambda v: " ".join(f"{a:.4f}" for a in v)
        lines.append((row["spec"], f"{n['epoch_s']:.2f}" if n else "-", f"{t['epoch_s']:.2f}",
                      f"{t['epoch_s'] / n['epoch_s']:.2f}" if n else "-", acc(n["test_accuracy"]) if n else "-",
                      acc(t["test_accuracy"]), f"{n['images_per_s']:.0f}" if n else "-",
                      f"{t['images_per_s']:.0f}", f"{n['images_per_s'] / t['images_per_s']:.2f}" if n else "-"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    print()
    for line in lines:
        print("  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(line, widths))))
    print(f"\nFashion-MNIST, batch {FASHION_BATCH}, Adam 1e-3, {machine['epochs']} epochs per round, "
          f"{machine['rounds']} interleaved rounds; s/epoch: median over all epochs; accuracy on the 10000 test "
          f"images after the last epoch of each round; img/s: test-set inference in batches of 256, the "
          f"forward passes alone (nnkit: `evaluate`'s samples_per_second). PyTorch in setting (c): "
          f"{TORCH_SETTINGS['c']['label']}. ratio > 1: nnkit faster. {machine['threads']} threads; 1-minute "
          f"load {machine['load_before']:.1f} before, {machine['load_after']:.1f} after.")


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
    parser.add_argument("--suite", choices=["all", "mlp", "rnn", "fashion"], default="all",
                        help="the MLP and GEMM comparison, the recurrent one, both (all, the default), or "
                             "Fashion-MNIST training (minutes)")
    parser.add_argument("--specs", default="mlp,cnn", help="--suite fashion: example specs (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1, help="--suite fashion: epochs per round (default: 1)")
    parser.add_argument("--spec", help=argparse.SUPPRESS)  # the fashion child
    parser.add_argument("--models", default=",".join(RNN_MODELS), help="recurrent models (default: %(default)s)")
    parser.add_argument("--configs", default=",".join(RNN_CONFIGS),
                        help="recurrent configurations (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=SAMPLES, help=argparse.SUPPRESS)  # smoke tests
    parser.add_argument("--torch-worker", choices=["mlp", "matmul", "rnn", "fashion"],
                        help=argparse.SUPPRESS)  # the child
    parser.add_argument("--torch-threads", type=int, help=argparse.SUPPRESS)  # rnn child; None: torch's default
    parser.add_argument("--inner-rounds", type=int, default=RNN_INNER_ROUNDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.threads < 1 or args.samples < 1:
        parser.error("--rounds, --threads and --samples must be positive")
    if args.samples != SAMPLES and not (args.torch_only or args.torch_worker):
        parser.error(f"--samples other than {SAMPLES} only with --torch-only (dense_bench trains on {SAMPLES})")
    for name in args.models.split(","):
        if name not in RNN_MODELS:
            parser.error(f"--models: unknown model '{name}'; expected {', '.join(RNN_MODELS)}")
    for name in args.specs.split(","):
        if name not in FASHION_SPECS:
            parser.error(f"--specs: unknown spec '{name}'; expected {', '.join(FASHION_SPECS)}")
    if args.epochs < 1:
        parser.error("--epochs must be positive")
    for name in args.configs.split(","):
        if name not in RNN_CONFIGS:
            parser.error(f"--configs: unknown configuration '{name}'; expected {', '.join(RNN_CONFIGS)}")

    ensure_torch()
    if args.torch_worker:
        return torch_worker(args)

    needed = []
    if args.suite in ("all", "mlp"):
        needed += [args.build / "bench" / "dense_bench", args.build / "bench" / "gemm_bench"]
    if args.suite in ("all", "rnn", "fashion"):
        needed.append(args.build / "nnkit")
    if not args.torch_only:
        missing = [str(p) for p in needed if not os.access(p, os.X_OK)]
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
    report = {}
    if args.suite in ("all", "mlp"):
        report.update(run_mlp(args, say))
    if args.suite in ("all", "rnn"):
        report["rnn"] = run_rnn(args, say)
    if args.suite == "fashion":
        report["fashion"] = run_fashion(args, say)
    report["machine"] = {"epochs": args.epochs, "load_before": load_before, "load_after": os.getloadavg()[0],
                         "cores": os.cpu_count(), "threads": args.threads, "rounds": args.rounds,
                         "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        if "rows" in report:
            print_table(report)
        if "rnn" in report:
            print_rnn_table(report["rnn"], report["machine"])
        if "fashion" in report:
            print_fashion_table(report["fashion"], report["machine"])


def run_mlp(args, say):
    dense = args.build / "bench" / "dense_bench"
    gemm = args.build / "bench" / "gemm_bench"
    load_before = os.getloadavg()[0]
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
    return {
        "rows": rows,
        "rounds": {"nnkit_mlp_ms": nnkit_ms, "torch_mlp_ms": torch_ms},
        "settings": {"load_before": load_before, "load_after": os.getloadavg()[0], "threads": args.threads, "rounds": args.rounds, "torch": torch_info.get("torch"),
                     "torch_blas": torch_info.get("blas"), "OPENBLAS_CORETYPE": "SkylakeX",
                     "OPENBLAS_NUM_THREADS": {"mlp": 1, "matmul": args.threads}},
    }


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


def print_rnn_table(rnn, machine):
    # Three significant digits at least: a streaming step is a few microseconds (0.00xyz ms).
    ms = lambda v: ("-" if v is None else f"{v:.5f}" if v < 0.01 else f"{v:.3f}" if v < 1
                    else f"{v:.2f}" if v < 100 else f"{v:.0f}")
    lines = [("model", "config (I, H, layers, batch, T)", "nnkit ms", "torch (a)", "(b)", "(c)", "ratio",
              "oneDNN prim.", "ratio")]
    ratio = lambda v: "-" if v is None else f"{v:.2f}"
    for r in rnn["rows"]:
        shape = ", ".join(str(v) for v in r["shape"])
        lines.append((r["model"], f"{r['config']} ({shape})", ms(r["nnkit_ms"]),
                      *(ms(r["torch_ms"][s]) + ("*" if s == r["fastest"] else "") for s in "abc"),
                      ratio(r["ratio"]), ms(r.get("onednn_ms")), ratio(r.get("onednn_ratio"))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    print()
    for line in lines:
        print("  ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(line, widths))))
    mem = rnn["peak_rss_mib"]
    if mem:
        print("\npeak resident set of a training run of the reference LSTM (MiB): " +
              ", ".join(f"{'nnkit' if k == 'nnkit' else 'torch (' + k + ')'} {v:.1f}" for k, v in mem.items()))
    print(f"\nms per training step (forward, MSE on a Dense(1) head, backward, SGD); stream: one streaming "
          f"time step at batch 1, the state carried. Median of {machine['rounds']} interleaved rounds, each the median of "
          f"{rnn['inner_rounds']} timed rounds of about 0.2 s. ratio = fastest PyTorch (*) / nnkit, > 1: nnkit "
          f"faster. oneDNN prim.: oneDNN's LSTM / lbr_gru primitives, forward and backward of the layers only "
          f"(build/bench/rnn_primitive_bench, its mean over at least 0.5 s), and its ratio to nnkit. "
          f"nnkit {machine['threads']} threads. 1-minute load {machine['load_before']:.1f} before, "
          f"{machine['load_after']:.1f} after, on {machine['cores']} cores.")
    for s, v in rnn["torch_settings"].items():
        env = " ".join(f"{k}={x}" for k, x in v["env"].items()) or "no thread variables"
        print(f"torch ({s}) {v['label']}: {env}, torch threads {v['torch_threads']}; {v['blas']}")


if __name__ == "__main__":
    main()
