#!/usr/bin/python3
"""PyTorch side of `npm run bench`: prints ONE JSON object on stdout.

Each benchmark runs in its own subprocess (so that its peak RSS is its own), once per thread setting
(`torch.set_num_threads(t)` for each t of --threads; default 1 and the number of cores), and reports
one table row keyed by the same id as lape's row (scripts/bench.ts):

  sgemm            1024^3 float32 matmul, GFLOP/s, best of N after warmup
  encoder          forward + backward of 7 pre-norm encoder layers (docs/model-spec.md block: LayerNorm
                   eps 1e-6, qkv with bias, softmax attention, proj, exact-GELU MLP), tokens 65, dim 256,
                   heads 4, MLP 512, batch 128; ms, median
  vit_lite_LaPE    vit_lite_7_4 (reference model, LaPE join), batch 128, 32x32x3, 10 classes: forward,
  vit_lite_basic   cross-entropy, backward, AdamW step; ms, median (and the same with the basic join)
  deit_tiny        deit_tiny_patch16_224 eval, no_grad, batch 64; images/s from the median

Output: {"version", "defaultThreads" (torch.get_num_threads() untouched), "blas" (the BLAS library
torch's matmul maps, and OpenBLAS's own config string and thread count when it is OpenBLAS), "quick",
"wallS", "runs": {"<threads>": {"<row id>": {"value", "iters", "rssMiB"}}}, "errors": {...}}.
OPENBLAS_* / OMP_* variables are left as they are: OpenBLAS keeps its own threads whatever
torch.set_num_threads says.

Usage: /usr/bin/python3 scripts/bench_torch.py [--only sgemm,encoder,vit_lite,deit_tiny] [--quick]
                                                [--threads 1,N] [--iters N] [--warmup N]
Defaults: sgemm warmup 2, best of 5..20 (10 s budget); the other benchmarks warmup 1, median of 3..7
(60 s budget); --quick: sgemm best of 2..3, the others a single timed iteration after 1 warmup.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
GROUPS = {
    "sgemm": ["sgemm"],
    "encoder": ["encoder"],
    "vit_lite": ["vit_lite_LaPE", "vit_lite_basic"],
    "vit_lite_amp": ["vit_lite_amp_step"],
    "deit_tiny": ["deit_tiny"],
    "deit_tiny_amp": ["deit_tiny_amp_infer"],
}


# ---------------------------------------------------------------------------------------------
# benchmark bodies (run in the child process)
# ---------------------------------------------------------------------------------------------


def _timed(fn: Callable[[], None], warmup: int, min_iters: int, max_iters: int, budget_s: float) -> List[float]:
    """Run fn warmup times, then at least min_iters and at most max_iters times (stop after budget_s)."""
    for _ in range(warmup):
        fn()
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


OVERRIDE: Dict[str, int] = {}


def _iters(quick: bool, heavy: bool) -> dict:
    if OVERRIDE:
        n = OVERRIDE.get("iters", 0)
        base = _iters_default(quick, heavy)
        if n:
            base.update(min_iters=n, max_iters=n)
        if "warmup" in OVERRIDE:
            base["warmup"] = OVERRIDE["warmup"]
        return base
    return _iters_default(quick, heavy)


def _iters_default(quick: bool, heavy: bool) -> dict:
    if quick:
        return dict(warmup=1, min_iters=2 if not heavy else 1, max_iters=3 if not heavy else 1, budget_s=5.0)
    return dict(warmup=2 if not heavy else 1, min_iters=5 if not heavy else 3, max_iters=20 if not heavy else 7,
                budget_s=10.0 if not heavy else 60.0)


def bench_sgemm(quick: bool) -> Dict[str, object]:
    import torch

    n = 1024
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    c = torch.empty(n, n)
    times = _timed(lambda: torch.mm(a, b, out=c), **_iters(quick, heavy=False))
    return {"value": 2.0 * n**3 / min(times) / 1e9, "iters": len(times)}


def bench_encoder(quick: bool) -> Dict[str, object]:
    import torch
    import torch.nn as nn

    sys.path.insert(0, str(HERE / "fixtures"))
    import reference_model as rm

    torch.manual_seed(0)
    # a config whose blocks are the spec's pre-norm block: D 256, 4 heads, MLP 512, eps 1e-6, qkv bias
    cfg = rm.Config(img_size=32, patch_size=4, embed_dim=256, depth=7, num_heads=4, mlp_ratio=2.0, qkv_bias=True,
                    norm_eps=1e-6, num_classes=10)
    assert cfg.num_tokens == 65
    layers = nn.ModuleList([rm.Block(cfg, 0.0) for _ in range(cfg.depth)])
    for m in layers.modules():
        if isinstance(m, nn.Linear):
            rm.trunc_normal(m.weight, 0.02)
            nn.init.zeros_(m.bias)
    layers.train()
    x = torch.randn(128, 65, 256, requires_grad=True)
    gy = torch.randn(128, 65, 256)

    def step():
        for p in layers.parameters():
            p.grad = None
        x.grad = None
        y = x
        for blk in layers:
            y = blk(y)
        y.backward(gy)

    times = _timed(step, **_iters(quick, heavy=True))
    return {"value": statistics.median(times) * 1e3, "iters": len(times)}


def _vit_lite(join: str, quick: bool, amp: bool = False) -> Tuple[float, int]:
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(HERE / "fixtures"))
    import reference_model as rm

    torch.manual_seed(0)
    model = rm.create("vit_lite_7_4", join=join, num_classes=10)
    model.train()
    opt = torch.optim.AdamW(model.param_groups(0.05), lr=5e-4, betas=(0.9, 0.999), eps=1e-8)
    x = torch.randn(128, 3, 32, 32)
    y = torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad(set_to_none=True)
        # PyTorch's own CPU mixed precision: bfloat16 autocast around forward and loss (no scaler needed).
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    times = _timed(step, **_iters(quick, heavy=True))
    return statistics.median(times) * 1e3, len(times)


def bench_vit_lite_lape(quick: bool) -> Dict[str, object]:
    ms, n = _vit_lite("LaPE", quick)
    return {"value": ms, "iters": n}


def bench_vit_lite_basic(quick: bool) -> Dict[str, object]:
    ms, n = _vit_lite("basic", quick)
    return {"value": ms, "iters": n}


def bench_vit_lite_amp(quick: bool) -> Dict[str, object]:
    ms, n = _vit_lite("LaPE", quick, amp=True)
    return {"value": ms, "iters": n}


def _deit_tiny(quick: bool, amp: bool) -> Dict[str, object]:
    import torch

    sys.path.insert(0, str(HERE / "fixtures"))
    import reference_model as rm

    torch.manual_seed(0)
    model = rm.create("deit_tiny_patch16_224").eval()
    x = torch.randn(64, 3, 224, 224)

    def infer():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            model(x)

    times = _timed(infer, **_iters(quick, heavy=True))
    return {"value": 64.0 / statistics.median(times), "iters": len(times)}


def bench_deit_tiny(quick: bool) -> Dict[str, object]:
    return _deit_tiny(quick, amp=False)


def bench_deit_tiny_amp(quick: bool) -> Dict[str, object]:
    return _deit_tiny(quick, amp=True)


# row id -> benchmark body
BENCHES = {
    "sgemm": bench_sgemm,
    "encoder": bench_encoder,
    "vit_lite_LaPE": bench_vit_lite_lape,
    "vit_lite_basic": bench_vit_lite_basic,
    "vit_lite_amp_step": bench_vit_lite_amp,
    "deit_tiny": bench_deit_tiny,
    "deit_tiny_amp_infer": bench_deit_tiny_amp,
}


def _blas() -> Dict[str, object]:
    """The BLAS library mapped into this process (after a matmul has run), and OpenBLAS's own report."""
    import ctypes

    info: Dict[str, object] = {"library": "unknown", "config": None, "threads": None}
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({os.path.realpath(line.split()[-1]) for line in f if "blas" in line.lower() and "/" in line})
    except OSError:
        return info
    if libs:
        info["library"] = ",".join(libs)
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            get_config = lib.openblas_get_config
        except (OSError, AttributeError):
            continue
        get_config.restype = ctypes.c_char_p
        info["config"] = get_config().decode()
        info["threads"] = int(lib.openblas_get_num_threads())
        break
    return info


def child(name: str, quick: bool, threads: int, iters: int, warmup: int) -> None:
    import torch

    if iters > 0:
        OVERRIDE["iters"] = iters
    if warmup >= 0:
        OVERRIDE["warmup"] = warmup
    default_threads = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    out = dict(BENCHES[name](quick))
    out["value"] = round(float(out["value"]), 3)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out["rssMiB"] = round(rss_kb / 1024.0, 1)
    meta = {"threads": torch.get_num_threads(), "defaultThreads": default_threads, "version": torch.__version__}
    if name == "sgemm":
        meta["blas"] = _blas()
    print(json.dumps({"row": out, "meta": meta}), flush=True)


def default_threads() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return ",".join(str(t) for t in sorted({1, cores}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(GROUPS), help="comma list of: " + ",".join(GROUPS))
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--threads", default=default_threads(),
                    help="comma list of torch.set_num_threads settings (default: 1 and the number of cores)")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations per benchmark (0: default)")
    ap.add_argument("--warmup", type=int, default=-1, help="warmup iterations per benchmark (-1: default)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-threads", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.quick, args.child_threads, args.iters, args.warmup)
        return

    names: List[str] = []
    for g in [s.strip() for s in args.only.split(",") if s.strip()]:
        if g not in GROUPS:
            ap.error(f"unknown benchmark {g!r}; choose from {', '.join(GROUPS)}")
        names += GROUPS[g]
    try:
        settings = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        ap.error(f"--threads must be a comma list of positive integers, got {args.threads!r}")
    if not settings or min(settings) < 1:
        ap.error(f"--threads must be a comma list of positive integers, got {args.threads!r}")

    t0 = time.perf_counter()
    result: Dict[str, object] = {"version": None, "defaultThreads": None, "blas": None}
    runs: Dict[str, Dict[str, object]] = {}
    errors: Dict[str, Dict[str, str]] = {}
    for threads in settings:
        rows: Dict[str, object] = {}
        for name in names:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--child-threads", str(threads),
                   "--iters", str(args.iters), "--warmup", str(args.warmup)]
            if args.quick:
                cmd.append("--quick")
            t1 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                errors.setdefault(str(threads), {})[name] = f"exit code {proc.returncode}"
                continue
            data = json.loads(lines[-1])
            rows[name] = data["row"]
            meta = data["meta"]
            result["version"] = meta["version"]
            result["defaultThreads"] = meta["defaultThreads"]
            if "blas" in meta:
                result["blas"] = meta["blas"]
            print(f"bench_torch: {name} at {threads} thread(s) done in {time.perf_counter() - t1:.1f} s",
                  file=sys.stderr)
        runs[str(threads)] = rows
    if result["version"] is None:
        import torch

        result["version"] = torch.__version__
        result["defaultThreads"] = torch.get_num_threads()
    result["quick"] = bool(args.quick)
    result["runs"] = runs
    result["errors"] = errors
    result["wallS"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
