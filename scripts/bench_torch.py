#!/usr/bin/python3
"""PyTorch side of `npm run bench`: prints ONE JSON object on stdout.

Benchmarks (each runs in its own subprocess so that its peak RSS can be reported):
  sgemm     torch_sgemm_gflops          1024^3 float32 matmul, best of N after warmup
  encoder   torch_encoder_ms            forward + backward of 7 pre-norm encoder layers (docs/model-spec.md
                                        block: LayerNorm eps 1e-6, qkv with bias, softmax attention, proj,
                                        exact-GELU MLP), tokens 65, dim 256, heads 4, MLP 512, batch 128;
                                        median
  vit_lite  torch_vit_lite_step_ms      vit_lite_7_4 (reference model, LaPE join), batch 128, 32x32x3,
            torch_vit_lite_step_basic_ms  10 classes: forward, cross-entropy, backward, AdamW step; median
                                        (and the same with the basic join)
  deit_tiny torch_deit_tiny_infer_ips   deit_tiny_patch16_224 eval, no_grad, batch 64, images/s (median)

Also: torch_<bench>_rss_mb (ru_maxrss of that benchmark's process), torch_<bench>_iters,
torch_version, threads (torch.get_num_threads()), torch_blas (the BLAS library torch's matmul uses),
torch_bench_wall_s. Thread settings and OPENBLAS_* / OMP_* variables are left as they are (use
--threads to call torch.set_num_threads in the benchmark processes).

Usage: /usr/bin/python3 scripts/bench_torch.py [--only sgemm,encoder,vit_lite,deit_tiny] [--quick]
                                                [--iters N] [--warmup N] [--threads N]
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
    "vit_lite": ["vit_lite", "vit_lite_basic"],
    "deit_tiny": ["deit_tiny"],
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
    return {"torch_sgemm_gflops": 2.0 * n**3 / min(times) / 1e9, "torch_sgemm_iters": len(times)}


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
    return {"torch_encoder_ms": statistics.median(times) * 1e3, "torch_encoder_iters": len(times)}


def _vit_lite(join: str, quick: bool) -> Tuple[float, int]:
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
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    times = _timed(step, **_iters(quick, heavy=True))
    return statistics.median(times) * 1e3, len(times)


def bench_vit_lite(quick: bool) -> Dict[str, object]:
    ms, n = _vit_lite("LaPE", quick)
    return {"torch_vit_lite_step_ms": ms, "torch_vit_lite_iters": n}


def bench_vit_lite_basic(quick: bool) -> Dict[str, object]:
    ms, n = _vit_lite("basic", quick)
    return {"torch_vit_lite_step_basic_ms": ms, "torch_vit_lite_basic_iters": n}


def bench_deit_tiny(quick: bool) -> Dict[str, object]:
    import torch

    sys.path.insert(0, str(HERE / "fixtures"))
    import reference_model as rm

    torch.manual_seed(0)
    model = rm.create("deit_tiny_patch16_224").eval()
    x = torch.randn(64, 3, 224, 224)

    def infer():
        with torch.no_grad():
            model(x)

    times = _timed(infer, **_iters(quick, heavy=True))
    return {"torch_deit_tiny_infer_ips": 64.0 / statistics.median(times), "torch_deit_tiny_iters": len(times)}


BENCHES = {
    "sgemm": bench_sgemm,
    "encoder": bench_encoder,
    "vit_lite": bench_vit_lite,
    "vit_lite_basic": bench_vit_lite_basic,
    "deit_tiny": bench_deit_tiny,
}


def _blas_library() -> str:
    """Path of the BLAS shared library mapped into this process (after a matmul has run)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return ",".join(sorted(os.path.realpath(p) for p in libs)) or "unknown"
    except OSError:
        return "unknown"


def child(name: str, quick: bool, threads: int, iters: int, warmup: int) -> None:
    import torch

    if iters > 0:
        OVERRIDE["iters"] = iters
    if warmup >= 0:
        OVERRIDE["warmup"] = warmup

    if threads > 0:
        torch.set_num_threads(threads)
    out = BENCHES[name](quick)
    out = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out[f"torch_{name}_rss_mb"] = round(rss_kb / 1024.0, 1)
    out["_threads"] = torch.get_num_threads()
    out["_version"] = torch.__version__
    if name == "sgemm":
        out["_blas"] = _blas_library()
    print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(GROUPS), help="comma list of: " + ",".join(GROUPS))
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads(N) in each benchmark (0: leave)")
    ap.add_argument("--iters", type=int, default=0, help="timed iterations per benchmark (0: default)")
    ap.add_argument("--warmup", type=int, default=-1, help="warmup iterations per benchmark (-1: default)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.quick, args.threads, args.iters, args.warmup)
        return

    names: List[str] = []
    for g in [s.strip() for s in args.only.split(",") if s.strip()]:
        if g not in GROUPS:
            ap.error(f"unknown benchmark {g!r}; choose from {', '.join(GROUPS)}")
        names += GROUPS[g]

    t0 = time.perf_counter()
    result: Dict[str, object] = {}
    meta: Dict[str, object] = {}
    for name in names:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--threads", str(args.threads),
               "--iters", str(args.iters), "--warmup", str(args.warmup)]
        if args.quick:
            cmd.append("--quick")
        t1 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            result[f"torch_{name}_error"] = f"exit code {proc.returncode}"
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        data = json.loads(lines[-1])
        for k, v in data.items():
            (meta if k.startswith("_") else result)[k] = v
        print(f"bench_torch: {name} done in {time.perf_counter() - t1:.1f} s", file=sys.stderr)

    if "_version" not in meta:
        import torch

        meta["_version"] = torch.__version__
        meta["_threads"] = torch.get_num_threads()
    result["torch_version"] = meta["_version"]
    result["threads"] = meta["_threads"]
    if "_blas" in meta:
        result["torch_blas"] = meta["_blas"]
    result["quick"] = bool(args.quick)
    result["torch_bench_wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
