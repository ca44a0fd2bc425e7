#!/usr/bin/env python3
"""nnkit's CSV forecasting against a PyTorch LSTM of the same size, trained the same way.

The protocol of issue 5: train on the first 80% of the rows (`nnkit train --csv`), forecast
over the whole file (`nnkit predict --csv`), and score the one-step forecasts whose target
lies in the last 20% of the rows, in original units, beside the naive last-value forecast.
The PyTorch side reproduces nnkit's pipeline in numpy: missing cells interpolated, windows of
W rows of every feature predicting the target H rows later, the last 20% of the training rows
held out for early stopping (by target row), features standardised on the training rows and
the target on the training samples, LSTM(128) and a Linear head, Adam 1e-3, batch 32,
shuffled, early stopping with the best weights kept.

Usage: bench/forecast_compare.py [--csv FILE --target COL] [--window 24] [--horizon 1]
Without --csv it uses the demo's data (`nnkit demo` writes nnkit-demo/vitals.csv).
Needs python3-torch and python3-numpy (NNKIT_SETUP_TORCH=1 scripts/setup).
"""
import argparse
import csv
import json
import math
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def read_table(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if any(c.strip() for c in r)]
    return header, body


def numeric_columns(header, body):
    """Every column but a first one holding text (the time column, as nnkit detects it)."""
    def is_number(text):
        try:
            float(text)
            return True
        except ValueError:
            return False
    first_is_time = body and body[0][0].strip() != "" and not is_number(body[0][0])
    return [i for i in range(len(header)) if not (i == 0 and first_is_time)]


def interpolate(values):
    """Linear interpolation of NaN by row position; the ends take the nearest value."""
    import numpy as np
    out = values.copy()
    rows = np.arange(len(out))
    for j in range(out.shape[1]):
        known = ~np.isnan(out[:, j])
        out[:, j] = np.interp(rows, rows[known], out[known, j])
    return out


def windows(values, target, window, horizon, end_rows):
    import numpy as np
    x = np.stack([values[t - window + 1:t + 1] for t in end_rows]).astype(np.float32)
    y = np.array([[values[t + horizon, target]] for t in end_rows], dtype=np.float32)
    last = np.array([[values[t, target]] for t in end_rows], dtype=np.float32)
    return x, y, last


def run_torch(values, target, window, horizon, n_fit, n_train, seed, max_epochs, patience):
    """Trains on rows [0, n_fit) (validation: targets in [n_train, n_fit)), forecasts the
    targets in [n_fit, rows). Returns forecasts, actual values and naive forecasts."""
    import numpy as np
    import torch
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rows = len(values)
    train_ends = [t for t in range(window - 1, rows - horizon) if t + horizon < n_train]
    val_ends = [t for t in range(window - 1, rows - horizon) if n_train <= t + horizon < n_fit]
    test_ends = [t for t in range(window - 1, rows - horizon) if t + horizon >= n_fit]
    mean, std = values[:n_train].mean(0), values[:n_train].std(0)
    std[std == 0] = 1.0
    scaled = (values - mean) / std
    xt, yt, _ = windows(scaled, target, window, horizon, train_ends)
    _, y_raw, _ = windows(values, target, window, horizon, train_ends)
    y_mean, y_std = float(y_raw.mean()), float(y_raw.std()) or 1.0
    yt = (y_raw - y_mean) / y_std
    xv, _, _ = windows(scaled, target, window, horizon, val_ends)
    _, yv_raw, _ = windows(values, target, window, horizon, val_ends)
    yv = (yv_raw - y_mean) / y_std

    class Model(torch.nn.Module):
        def __init__(self, features):
            super().__init__()
            self.lstm = torch.nn.LSTM(features, 128, batch_first=True)
            self.head = torch.nn.Linear(128, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    model = Model(values.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt, xv, yv = map(torch.from_numpy, (xt, yt.astype(np.float32), xv, yv.astype(np.float32)))
    best, best_state, waited = math.inf, None, 0
    for _ in range(max_epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 32):
            idx = perm[i:i + 32]
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val = torch.nn.functional.mse_loss(model(xv), yv).item()
        if val < best:
            best, waited = val, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited > patience:
                break
    model.load_state_dict(best_state)
    xs, ys, last = windows(scaled, target, window, horizon, test_ends)
    _, actual, naive = windows(values, target, window, horizon, test_ends)
    with torch.no_grad():
        forecasts = model(torch.from_numpy(xs)).numpy() * y_std + y_mean
    return forecasts[:, 0], actual[:, 0], naive[:, 0]


def rmse(a, b):
    import numpy as np
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def main():
    import numpy as np
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--target", default="heart_rate")
    parser.add_argument("--window", type=int, default=24)
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=100, help="at most (early stopping)")
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--build", type=Path, default=REPO / "build")
    args = parser.parse_args()
    nnkit = str(args.build / "nnkit")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv_path = args.csv
        if csv_path is None:
            subprocess.run([nnkit, "demo", "--out", str(tmp / "demo"), "--epochs", "1"], check=True,
                           stdout=subprocess.DEVNULL)
            csv_path = tmp / "demo" / "vitals.csv"
        header, body = read_table(csv_path)
        rows = len(body)
        n_fit = int(math.floor(rows * 0.8))
        with open(tmp / "fit.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(body[:n_fit])
        (tmp / "spec.json").write_text(json.dumps({
            "layers": [{"type": "LSTM", "units": 128}, {"type": "Dense", "units": 1}],
            "loss": "mse", "optimizer": {"type": "adam", "learning_rate": 0.001}, "seed": 1}))
        subprocess.run([nnkit, "train", "--spec", str(tmp / "spec.json"), "--csv", str(tmp / "fit.csv"),
                        "--target", args.target, "--window", str(args.window), "--horizon",
                        str(args.horizon), "--missing", "interpolate", "--val-split", "0.2",
                        "--early-stopping", str(args.patience), "--epochs", str(args.epochs),
                        "--batch-size", "32", "--quiet", "--out", str(tmp / "m.safetensors")],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([nnkit, "predict", "--model", str(tmp / "m.safetensors"), "--csv", str(csv_path),
                        "--out", str(tmp / "forecast.npy")], check=True)
        forecast = np.load(tmp / "forecast.npy")[:, 0]

        columns = numeric_columns(header, body)
        values = np.array([[float(r[i]) if r[i].strip() not in ("", "NA", "NaN", "nan") else np.nan
                            for i in columns] for r in body], dtype=np.float64)
        values = interpolate(values)
        target = [header[i] for i in columns].index(args.target)
        # nnkit's forecasts: one per window ending at t = W-1 .. rows-1, for row t + H.
        target_rows = np.arange(args.window - 1, rows) + args.horizon
        keep = (target_rows >= n_fit) & (target_rows < rows)
        actual = values[target_rows[keep], target]
        naive = values[target_rows[keep] - args.horizon, target]
        nnkit_rmse = rmse(forecast[keep], actual)
        n_train = n_fit - int(math.floor(n_fit * 0.2 + 1e-9))  # as nnkit's split_chronological
        t_forecast, t_actual, t_naive = run_torch(values, target, args.window, args.horizon, n_fit,
                                                  n_train, 1, args.epochs, args.patience)
        torch_rmse = rmse(t_forecast, t_actual)
    print(f"{csv_path.name if args.csv else 'demo vitals'}: {rows} rows, target {args.target}, window "
          f"{args.window}, horizon {args.horizon}; scored on the last {len(actual)} forecasts")
    print(f"  nnkit   RMSE {nnkit_rmse:.4f}")
    print(f"  PyTorch RMSE {torch_rmse:.4f}  (nnkit / PyTorch: {nnkit_rmse / torch_rmse:.3f})")
    print(f"  naive   RMSE {rmse(naive, actual):.4f}")


if __name__ == "__main__":
    main()
