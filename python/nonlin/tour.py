"""``python -m nonlin tour``: the lecture's claims about activation functions, each measured.

Eight experiments, each deterministic for a seed, each a few seconds on 2 cores. Each returns a
``Result``: the claims it tests with the measured number and a verdict, its tables, and a figure
(PNG, if matplotlib is installed). ``run`` prints them and writes ``report.md``. Every experiment
takes its sizes as parameters so the tests can run them small.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import nonlin as nl

from . import diagnostics as dg
from . import nn

@dataclass
class Table:
    header: Sequence[str]
    rows: List[Sequence[Any]]
    caption: str = ""

    def _cells(self) -> List[List[str]]:
        return [[_fmt(v) for v in r] for r in self.rows]

    def text(self) -> str:
        cells = [list(map(str, self.header))] + self._cells()
        w = [max(len(r[i]) for r in cells) for i in range(len(self.header))]
        lines = ["  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r)) for r in cells]
        lines.insert(1, "  ".join("-" * x for x in w))
        return (self.caption + "\n" if self.caption else "") + "\n".join(lines)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(map(str, self.header)) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in self._cells()]
        return (f"*{self.caption}*\n\n" if self.caption else "") + "\n".join(lines)


def _md(text: str) -> str:
    """A table cell: a literal | would end the cell."""
    return str(text).replace("|", "\\|")


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if v is None:
        return "-"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v == 0 or math.isnan(v) or math.isinf(v):
            return f"{v:g}"
        if abs(v) >= 1e4 or abs(v) < 1e-3:
            return f"{v:.2e}"
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


@dataclass
class Claim:
    claim: str
    measured: str
    agrees: bool


@dataclass
class Result:
    number: int
    title: str
    claims: List[Claim]
    tables: List[Table]
    figure: Optional[str] = None
    seconds: float = 0.0
    data: Dict[Any, Any] = field(default_factory=dict)  # the raw figures, for tests and reuse


# ---------------------------------------------------------------- data and training

def _symmetric(x: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Each point twice, as x and -x with one label (both data sets keep their labels under x -> -x).
    Every line through the origin then splits each class in half: the boundary a linear model
    fitted by cross-entropy finds on symmetric data (w -> 0) scores 50%, not a lucky tilt of a
    finite sample. (The best linear boundary of all cuts off a cap: 67% on circles, 75% on XOR.)"""
    return np.concatenate([x, -x]), np.concatenate([labels, labels])


def circles(n: int, rng: np.random.Generator, noise: float = 0.08) -> Tuple[np.ndarray, np.ndarray]:
    """Two concentric rings (radius 0.5 and 1), alternating labels: not linearly separable."""
    labels = np.arange(n // 2) % 2
    r = np.where(labels == 0, 0.5, 1.0) + rng.normal(0, noise, n // 2)
    t = rng.uniform(0, 2 * np.pi, n // 2)
    return _symmetric(np.c_[r * np.cos(t), r * np.sin(t)], labels)


def xor(n: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Uniform points on [-1, 1]², label 1 where the coordinates' signs differ; the four
    quadrants take turns, so the classes are balanced."""
    labels = np.arange(n // 2) % 2
    quadrant = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]])[np.arange(n // 2) % 4]
    return _symmetric(quadrant * rng.uniform(0, 1, (n // 2, 2)), labels)


def blobs(n: int, rng: np.random.Generator, dim: int = 16, classes: int = 4) -> Tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters around fixed random centres in ``dim`` dimensions (a hard-ish 4-class task)."""
    centres = np.random.default_rng(123).standard_normal((classes, dim))
    labels = np.arange(n) % classes
    return centres[labels] + rng.standard_normal((n, dim)), labels


def digits() -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797 images, shipped inside the package), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def _split(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
           train: float = 2 / 3) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = rng.permutation(len(x))
    k = int(len(x) * train)
    return x[p[:k]], y[p[:k]], x[p[k:]], y[p[k:]]


def train(net: nn.Layer, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, rng: np.random.Generator, momentum: float = 0.9, batch: int = 32,
          every: int = 0, on_eval: Optional[Callable[[int], bool]] = None) -> None:
    """Mini-batch SGD on softmax cross-entropy; ``on_eval(step)`` every ``every`` steps (stop if True)."""
    loss, opt = nn.SoftmaxCrossEntropy(), nn.SGD(net, lr, momentum)
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch):
            b = order[s:s + batch]
            loss.forward(net.forward(x[b]), y[b])
            net.backward(loss.backward())
            opt.step()
            step += 1
            if every and step % every == 0 and on_eval is not None and on_eval(step):
                return


def mlp(d_in: int, width: int, depth: int, d_out: int, act: Optional[str], rng: np.random.Generator, init: str = "xavier",
        scale: float = 1.0, bias_init: float = 0.0) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units: act is an activation name, "prelu", "maxout"
    (2 pieces) or None (a deep linear network), then a linear output layer."""
    layers: List[nn.Layer] = []
    d = d_in
    for _ in range(depth):
        if act == "maxout":
            layers.append(nn.Maxout(d, width, 2, init=init, scale=scale, bias_init=bias_init, rng=rng))
        else:
            layers.append(nn.Linear(d, width, init=init, scale=scale, bias_init=bias_init, rng=rng))
            if act == "prelu":
                layers.append(nn.PReLU(width))
            elif act is not None:
                layers.append(nn.Activation(act))
        d = width
    layers.append(nn.Linear(d, d_out, init=init, scale=scale, rng=rng))
    return nn.Sequential(*layers)


def _hidden(net: nn.Sequential) -> List[Any]:
    """The layers whose ``derivative()`` is a hidden unit's local derivative."""
    return [layer for layer in net.layers if hasattr(layer, "derivative")]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig: Any, out: Optional[str], name: str) -> Optional[str]:
    if out is None:
        return None
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return name


# ---------------------------------------------------------------- 1. linear vs non-linear

def linear_vs_nonlinear(seed: int = 0, n: int = 1200, epochs: int = 100, width: int = 16,
                        out: Optional[str] = None) -> Result:
    table = Table(["data", "network (4 layers)", "test accuracy", "chance"], [])
    acc: Dict[Any, Any] = {}
    nets: Dict[Any, Any] = {}
    for data in (circles, xor):
        rng = np.random.default_rng(seed)
        (xt, yt), (xv, yv) = data(n, rng), data(n // 2, rng)  # balanced, point-symmetric train and test sets
        chance = max(np.mean(yv), 1 - np.mean(yv))
        for act in (None, "tanh", "relu"):
            rng = np.random.default_rng(seed + 1)
            net = mlp(2, width, 3, 2, act, rng)
            train(net, xt, yt, epochs, 0.05, rng)
            acc[data.__name__, act] = nn.accuracy(net.forward(xv), yv)
            nets[data.__name__, act] = (net, xv, yv)
            table.rows.append([data.__name__, act or "linear", acc[data.__name__, act], chance])
    lin = max(acc["circles", None], acc["xor", None])
    nonlin_min = min(acc[d, a] for d in ("circles", "xor") for a in ("tanh", "relu"))
    claims = [
        Claim("A deep linear network learns only linear boundaries: it cannot beat chance on circles or XOR.",
              f"linear: {acc['circles', None]:.1%} (circles), {acc['xor', None]:.1%} (XOR); chance 50%",
              lin <= 0.6),
        Claim("A deep non-linear network can learn such boundaries.",
              f"tanh/ReLU: at least {nonlin_min:.1%} on both", nonlin_min >= 0.95),
    ]
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        fig, axes = plt.subplots(2, 3, figsize=(9, 6))
        g = np.linspace(-1.5, 1.5, 150)
        gx, gy = np.meshgrid(g, g)
        grid = np.c_[gx.ravel(), gy.ravel()]
        for i, d in enumerate(("circles", "xor")):
            for j, act in enumerate((None, "tanh", "relu")):
                net, xv, yv = nets[d, act]
                ax = axes[i, j]
                z = net.forward(grid).argmax(axis=1).reshape(gx.shape)
                ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["#cde", "#fdc"])
                ax.scatter(xv[:, 0], xv[:, 1], c=yv, s=4, cmap="coolwarm")
                ax.set_title(f"{d}, {act or 'linear'}: {acc[d, act]:.0%}", fontsize=9)
                ax.set_xticks([]), ax.set_yticks([])
        figure = _save(fig, out, "1_decision_boundaries.png")
    return Result(1, "Linear vs non-linear", claims, [table], figure, data={"accuracy": acc})


# ---------------------------------------------------------------- 2. saturation

def saturation(seed: int = 0, n: int = 1200, epochs: int = 20, width: int = 64, depth: int = 4,
               scales: Sequence[float] = (0.1, 1.0, 4.0), out: Optional[str] = None) -> Result:
    rng = np.random.default_rng(seed)
    xt, yt, xv, yv = _split(*blobs(n, rng), rng)
    per_layer = Table(["init N(0, s²), s", "layer", "saturated |σ'|<0.01", "‖∇W‖", "‖∇W‖/‖W‖"], [],
                      "at initialization, one full-batch gradient")
    summary = Table(["init s", "saturated (all layers)", "‖∇W₁‖/‖∇W_top‖",
                     f"test accuracy after {epochs} epochs"], [])
    res: Dict[Any, Any] = {}
    for s in scales:
        rng = np.random.default_rng(seed + 1)
        net = mlp(xt.shape[1], width, depth, 4, "sigmoid", rng, init="normal", scale=s)
        loss = nn.SoftmaxCrossEntropy()
        loss.forward(net.forward(xt), yt)
        net.backward(loss.backward())
        sat = [dg.saturated_fraction(a.derivative()) for a in _hidden(net)]
        norms = [v for _, v in dg.gradient_norms(net)]
        linears = [layer for layer in net.layers if isinstance(layer, nn.Linear)]
        rel = [np.linalg.norm(layer.dW) / np.linalg.norm(layer.W) for layer in linears]
        for i, (f, g, r) in enumerate(zip(sat + [None], norms, rel)):
            per_layer.rows.append([s, i + 1 if i < depth else "output", f, g, r])
        train(net, xt, yt, epochs, 0.02, rng)
        a = nn.accuracy(net.forward(xv), yv)
        res[s] = {"saturated": float(np.mean(sat)), "per_layer": sat, "norms": norms, "relative": rel,
                  "ratio": norms[0] / norms[-1], "accuracy": a}
        summary.rows.append([s, res[s]["saturated"], res[s]["ratio"], a])
    small, mid, large = scales[0], scales[len(scales) // 2], scales[-1]
    claims = [
        Claim("Sigmoid units saturate (σ' ≈ 0) when the initial weights are large.",
              f"saturated fraction {res[small]['saturated']:.0%} (s={small}), {res[mid]['saturated']:.0%} (s={mid}), "
              f"{res[large]['saturated']:.0%} (s={large})",
              res[large]["saturated"] > res[small]["saturated"] + 0.5),
        Claim("Then the gradients vanish and training stalls.",
              f"test accuracy after {epochs} epochs: {res[mid]['accuracy']:.0%} (s={mid}) vs "
              f"{res[large]['accuracy']:.0%} "
              f"(s={large}); ‖∇W‖/‖W‖ of hidden layer 2: {res[mid]['relative'][1]:.2g} vs "
              f"{res[large]['relative'][1]:.2g}. The absolute norms do not shrink: the large weights amplify "
              f"what passes the few unsaturated units",
              res[large]["accuracy"] < res[mid]["accuracy"] - 0.1
              and res[large]["relative"][1] < res[mid]["relative"][1]),
        Claim("(σ' ≤ 1/4, so gradients also shrink layer by layer with small weights.)",
              f"s={small}: ‖∇W₁‖ is {res[small]['ratio']:.1e} of the top layer's, "
              f"test accuracy {res[small]['accuracy']:.0%} (chance 25%)",
              res[small]["ratio"] < 0.1),
    ]
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
        for s in scales:
            a1.plot(range(1, depth + 1), res[s]["per_layer"], "o-", label=f"s = {s}")
            a2.semilogy(range(1, depth + 2), res[s]["norms"], "o-", label=f"s = {s}")
        a1.set(xlabel="hidden layer", ylabel="saturated fraction", ylim=(-0.02, 1.02), title="|σ'| < 0.01",
               xticks=range(1, depth + 1))
        a2.set(xlabel="layer (last: output)", ylabel="‖∇W‖", title="gradient norm per layer at init",
               xticks=range(1, depth + 2))
        a1.legend(), a2.legend()
        figure = _save(fig, out, "2_saturation.png")
    return Result(2, "Saturation", claims, [summary, per_layer], figure, data=res)


# ---------------------------------------------------------------- 3. zero-centring

def zero_centring(seed: int = 0, n: int = 600, width: int = 64, examples: int = 200, batch: int = 32,
                  out: Optional[str] = None) -> Result:
    rng = np.random.default_rng(seed)
    x, y = blobs(n, rng)
    table = Table(["activation before the layer", "mean h", "one example: all same sign",
                   "one example: majority sign", f"batch of {batch}: majority sign"], [])
    res: Dict[Any, Any] = {}
    for act in ("sigmoid", "tanh"):
        rng = np.random.default_rng(seed + 1)
        net = mlp(x.shape[1], width, 2, 4, act, rng)
        loss = nn.SoftmaxCrossEntropy()
        nxt = net.layers[2]  # the Linear layer fed by the first activation
        assert isinstance(nxt, nn.Linear)
        allsame, major = [], []
        for i in range(examples):
            loss.forward(net.forward(x[i:i + 1]), y[i:i + 1])
            net.backward(loss.backward())
            allsame.append(dg.all_same_sign_fraction(nxt.dW))
            major.append(dg.same_sign_fraction(nxt.dW))
        batches = []
        for s in range(0, examples, batch):
            loss.forward(net.forward(x[s:s + batch]), y[s:s + batch])
            net.backward(loss.backward())
            batches.append(dg.same_sign_fraction(nxt.dW))
        h = net.layers[1].forward(net.layers[0].forward(x))
        res[act] = {"all_same": float(np.mean(allsame)), "majority": float(np.mean(major)),
                    "batch": float(np.mean(batches)), "mean_h": float(h.mean()), "hist": major}
        table.rows.append([act, res[act]["mean_h"], res[act]["all_same"], res[act]["majority"], res[act]["batch"]])
    sig, th = res["sigmoid"], res["tanh"]
    claims = [
        Claim("Sigmoid outputs are all positive, so for one example all of a neuron's incoming weight "
              "gradients share one sign (the updates are restricted); tanh is zero-centred.",
              f"neurons with one-signed gradients: {sig['all_same']:.0%} after sigmoid, {th['all_same']:.0%} "
              f"after tanh", sig["all_same"] == 1.0 and th["all_same"] < 0.1),
        Claim("(Over a mini-batch the restriction weakens but stays.)",
              f"majority-sign fraction over batches of {batch}: {sig['batch']:.2f} (sigmoid) vs {th['batch']:.2f} "
              f"(tanh), 0.5 = no bias", sig["batch"] > th["batch"] + 0.1),
    ]
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        fig, ax = plt.subplots(figsize=(6, 3.4))
        bins = np.linspace(0.5, 1, 26)
        for act in ("sigmoid", "tanh"):
            ax.hist(res[act]["hist"], bins=bins, alpha=0.6, label=act)
        ax.set(xlabel="fraction of a neuron's incoming weight gradients with the majority sign (one example)",
               ylabel="examples")
        ax.legend()
        figure = _save(fig, out, "3_zero_centring.png")
    return Result(3, "Zero-centring", claims, [table], figure, data=res)


# ---------------------------------------------------------------- 4. dead units

def dead_units(seed: int = 0, n: int = 1200, epochs: int = 5, width: int = 64, seeds: int = 5,
               lrs: Sequence[float] = (0.01, 0.1, 0.3, 0.6, 1.0), out: Optional[str] = None) -> Result:
    rng = np.random.default_rng(seed)
    xt, yt, xv, yv = _split(*blobs(n, rng), rng)
    setups = [("relu", 0.0), ("relu", 0.01), ("leaky_relu", 0.0), ("elu", 0.0), ("maxout", 0.0)]
    table = Table(["units", "bias init"] + [f"lr {lr}" for lr in lrs], [],
                  f"dead hidden units (zero gradient for every training example) after {epochs} epochs of plain SGD, "
                  f"mean of {seeds} seeds; 'diverged' if the weights overflowed")
    acc = Table(["units", "bias init"] + [f"lr {lr}" for lr in lrs], [], "test accuracy (same runs)")
    res: Dict[Any, Any] = {}
    for act, bias in setups:
        dead_row, acc_row = [], []
        for lr in lrs:
            deads, accs, diverged = [], [], 0
            for k in range(seeds):
                rng = np.random.default_rng(seed + 1 + k)
                net = mlp(xt.shape[1], width, 2, 4, act, rng, init="he", bias_init=bias)
                with np.errstate(all="ignore"):
                    train(net, xt, yt, epochs, lr, rng, momentum=0.0)
                    logits = net.forward(xt)
                if not all(np.isfinite(p).all() for p in net.params()) or not np.isfinite(logits).all():
                    diverged += 1
                    continue
                deads.append(np.mean([dg.dead_fraction(a.derivative()) for a in _hidden(net)]))
                accs.append(nn.accuracy(net.forward(xv), yv))
            d = float(np.mean(deads)) if deads else None
            res[act, bias, lr] = d
            dead_row.append(d if not diverged else ("diverged" if d is None else f"{d:.3g} ({diverged} diverged)"))
            acc_row.append(float(np.mean(accs)) if accs else "diverged")
        table.rows.append([act, bias] + dead_row)
        acc.rows.append([act, bias] + acc_row)
    lo, hi = lrs[0], lrs[-1]
    relu_lo, relu_hi, relu_hi_b = res["relu", 0.0, lo], res["relu", 0.0, hi], res["relu", 0.01, hi]
    others = [res[a, 0.0, lr] for a in ("leaky_relu", "elu", "maxout") for lr in lrs if res[a, 0.0, lr] is not None]
    claims = [
        Claim("ReLU units die, more often with a high learning rate.",
              f"dead ReLU units: {relu_lo:.1%} at lr {lo}, {relu_hi:.1%} at lr {hi}",
              relu_hi is not None and relu_hi > relu_lo + 0.05),
        Claim("A small positive bias (0.01) helps.",
              f"at lr {hi}: {relu_hi_b:.1%} dead with bias 0.01 vs {relu_hi:.1%} with bias 0",
              relu_hi_b is not None and relu_hi_b < relu_hi),
        Claim("Leaky ReLU, ELU and Maxout units do not die.",
              f"largest dead fraction among them: {max(others):.1%} (runs that diverged left out)",
              max(others) == 0.0),
    ]
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for act, bias in setups:
            ys = [res[act, bias, lr] for lr in lrs]
            ax.plot(lrs, [np.nan if v is None else v for v in ys], "o-", label=f"{act}, bias {bias}")
        ax.set(xscale="log", xlabel="learning rate", ylabel="dead fraction of hidden units")
        ax.legend()
        figure = _save(fig, out, "4_dead_units.png")
    return Result(4, "Dead units", claims, [table, acc], figure, data=res)


# ---------------------------------------------------------------- 5. convergence

CONVERGENCE = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "prelu", "maxout")


def convergence(seed: int = 0, epochs: int = 30, target: float = 0.95, seeds: int = 5, width: int = 64,
                lr: float = 0.05, acts: Sequence[str] = CONVERGENCE,
                data: Optional[Tuple[np.ndarray, np.ndarray]] = None, out: Optional[str] = None) -> Result:
    if data is None:
        data = digits()
    x, y = data
    rng = np.random.default_rng(seed)
    xt, yt, xv, yv = _split(x, y, rng)
    classes = int(y.max()) + 1
    steps_per_epoch = math.ceil(len(xt) / 32)
    every = max(1, steps_per_epoch // 4)
    table = Table(["activation", f"epochs to {target:.0%} test accuracy (median)", "per seed"], [],
                  f"{len(xt)} training / {len(xv)} test images, 2 hidden layers of {width} (Xavier init for all), "
                  f"SGD lr {lr} momentum 0.9, "
                  f"batch 32, test accuracy every quarter epoch until it reaches {target:.0%}, {seeds} seeds")
    res: Dict[str, Dict[str, Any]] = {}
    curves: Dict[str, List[Tuple[float, float]]] = {}
    for act in acts:
        reached: List[Optional[float]] = []
        for k in range(seeds):
            rng = np.random.default_rng(seed + 1 + k)
            net = mlp(xt.shape[1], width, 2, classes, act, rng)
            hit: List[Optional[float]] = [None]
            trace: List[Tuple[float, float]] = []

            def check(step: int) -> bool:
                a = nn.accuracy(net.forward(xv), yv)
                trace.append((step / steps_per_epoch, a))
                if hit[0] is None and a >= target:
                    hit[0] = step / steps_per_epoch
                return hit[0] is not None

            train(net, xt, yt, epochs, lr, rng, every=every, on_eval=check)
            reached.append(hit[0])
            if k == 0:
                curves[act] = trace
        got = [r for r in reached if r is not None]
        med = float(np.median([r if r is not None else np.inf for r in reached]))
        res[act] = {"epochs": med if math.isfinite(med) else None, "per_seed": reached}
        table.rows.append([act, res[act]["epochs"] if got else f"not in {epochs}",
                           ", ".join("-" if r is None else f"{r:.2g}" for r in reached)])

    def ep(a: str) -> float:
        return res[a]["epochs"] if a in res and res[a]["epochs"] is not None else float("inf")

    claims: List[Claim] = []
    if all(a in res for a in ("sigmoid", "tanh", "relu")):
        claims.append(Claim("ReLU converges much faster than sigmoid.",
                            f"epochs to {target:.0%}: ReLU {ep('relu'):.2g}, sigmoid {ep('sigmoid'):.2g}",
                            ep("relu") * 2 <= ep("sigmoid")))
        claims.append(Claim("ReLU converges much faster than tanh.",
                            f"ReLU {ep('relu'):.2g}, tanh {ep('tanh'):.2g} epochs (Krizhevsky et al.'s 6x was a "
                            f"CIFAR-10 CNN; on this small MLP they are close)",
                            ep("relu") * 1.5 <= ep("tanh")))
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        for act, trace in curves.items():
            ax.plot(*zip(*trace), label=act)
        ax.axhline(target, color="gray", lw=0.8, ls="--")
        ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1),
               title=f"digits, seed {seed + 1}, until {target:.0%}")
        ax.legend()
        figure = _save(fig, out, "5_convergence.png")
    return Result(5, "Convergence", claims, [table], figure, data=res)


# ---------------------------------------------------------------- 6. constructions

def _hard_sigmoid(x: np.ndarray, a: float) -> np.ndarray:
    """(max(0, a x + 1) - max(0, a x - 1)) / 2: the lecture's two ReLUs, scaled to [0, 1]."""
    return (nl.relu(a * x + 1) - nl.relu(a * x - 1)) / 2


def constructions(seed: int = 0, n: int = 100_000, out: Optional[str] = None) -> Result:
    x = np.linspace(-12, 12, 24_001)
    sig = nl.sigmoid(x)
    gaps: Dict[float, float] = {}
    for a in np.linspace(0.2, 1.0, 801):
        gaps[float(a)] = float(np.max(np.abs(_hard_sigmoid(x, a) - sig)))
    best = min(gaps, key=lambda a: gaps[a])
    table = Table(["two ReLUs (max(0, a x + 1) - max(0, a x - 1)) / 2", "a", "max |gap| to σ", "at x"], [])
    for label, a in (("the lecture's units (a = 1)", 1.0), ("same slope at 0 as σ (a = 1/2)", 0.5),
                     ("smallest max gap", best)):
        d = np.abs(_hard_sigmoid(x, a) - sig)
        table.rows.append([label, a, float(d.max()), float(abs(x[d.argmax()]))])
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.standard_normal(n) * 10.0 ** rng.uniform(-30, 30, n),
                        [0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1.7e308, -1.7e308]])
    mx = Table(["Maxout unit, pieces (w, b)", "reproduces", "inputs", "max |difference|", "equal", "-0 vs +0"], [],
               "the bias adds +0, so x·w + 0 is +0 where relu/leaky_relu keep -0 (equal as numbers)")
    exact: Dict[Any, Any] = {}
    for label, slopes, ref in (("(1, 0), (0, 0)", (1.0, 0.0), nl.relu(z)),
                               ("(1, 0), (0.01, 0)", (1.0, 0.01), nl.leaky_relu(z, 0.01))):
        unit = nn.Maxout(1, 1, pieces=2)
        unit.W[0, 0, :] = slopes
        unit.b[...] = 0.0
        with np.errstate(invalid="ignore"):  # inf * 0 in the zero-slope piece
            got = unit.forward(z[:, None])[:, 0]
        finite = np.isfinite(z)
        g, r = got[finite], ref[finite]
        exact[label] = bool(np.array_equal(g, r))
        signs = int(np.sum(g.view(np.int64) != r.view(np.int64)))  # equal values, different bits: ±0
        mx.rows.append([label, "ReLU" if slopes[1] == 0 else "Leaky ReLU (0.01)", int(finite.sum()),
                        float(np.max(np.abs(g - r))), exact[label], signs])
    claims = [
        Claim("Two ReLUs make a piecewise-linear approximation of the sigmoid.",
              f"max |gap| {gaps[best]:.3f} at a = {best:.3f} (the lecture's unscaled pair, a = 1: {gaps[1.0]:.3f})",
              gaps[best] < 0.1),
        Claim("Maxout generalizes ReLU and Leaky ReLU.",
              f"with pieces (x, 0) and (x, 0.01x), Maxout equals relu and leaky_relu exactly (up to the sign of 0) on "
              f"{int(np.isfinite(z).sum()):,} inputs from 1e-30 to 1e30" if all(exact.values())
              else "Maxout differs from relu/leaky_relu", all(exact.values())),
    ]
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
        xs = np.linspace(-6, 6, 601)
        a1.plot(xs, nl.sigmoid(xs), label="σ(x)")
        for a in (1.0, best):
            a1.plot(xs, _hard_sigmoid(xs, a), label=f"two ReLUs, a = {a:.3g}")
        a1.set(title="two ReLUs against a sigmoid")
        a1.legend(fontsize=8)
        xs = np.linspace(-3, 3, 301)
        a2.plot(xs, np.maximum(xs, 0), label="max(x, 0) = ReLU", lw=3, alpha=0.5)
        a2.plot(xs, np.maximum(xs, 0.01 * xs), "--", label="max(x, 0.01x) = Leaky ReLU")
        a2.plot(xs, np.maximum(0.5 * xs - 0.5, np.maximum(-xs, 2 * xs - 3)), label="3 pieces: any convex function")
        a2.set(title="Maxout units")
        a2.legend(fontsize=8)
        figure = _save(fig, out, "6_constructions.png")
    return Result(6, "Constructions", claims, [table, mx], figure, data={"best_gap": gaps[best], "exact": exact})


# ---------------------------------------------------------------- 7. cost

EXP_BASED = ("sigmoid", "tanh", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "logsigmoid",
             "tanhshrink")


def _time_all(names: Sequence[str], n: int, budget: float) -> Dict[str, Dict[Tuple[str, str], Any]]:
    from . import bench

    res: Dict[Any, Any] = {}
    for name in names:
        row: Dict[Tuple[str, str], Any] = {}
        for kind, fn in (("fwd", name), ("bwd", name + "_backward")):
            try:
                d = bench._inputs(fn, n, np.dtype("float32"))
                f = bench._nonlin(fn, d, out=True)  # NumPy writes into preallocated buffers too
                f()
                m = d["x"].size
                t = bench._timed_ns({"nonlin": f, "numpy": bench._numpy(fn, d)}, m, budget)
                row["nonlin", kind], row["numpy", kind] = t["nonlin"], t.get("numpy")
            except (TypeError, ValueError):  # a function the bench does not know how to call
                row["nonlin", kind] = row["numpy", kind] = None
        res[name] = row
    return res


def cost(n: int = 1_000_000, budget: float = 0.05, names: Optional[Sequence[str]] = None,
         out: Optional[str] = None) -> Result:
    names = list(names) if names is not None else list(nn.ELEMENTWISE) + ["prelu", "maxout"]
    threads = nl.info()["threads"]
    nl.set_num_threads(1)  # NumPy runs on one thread: compare the work per element, not the core count
    try:
        res = _time_all(names, n, budget)
    finally:
        nl.set_num_threads(threads)
    table = Table(["function", "exp?", "nonlin fwd", "NumPy fwd", "nonlin bwd", "NumPy bwd"], [],
                  f"ns per element, {n:,} float32 elements, median of 7, one thread each, into preallocated "
                  f"outputs (NumPy: the fastest formulation in nonlin.bench, SciPy's expit for sigmoid if installed)")
    for name in names:
        row = res[name]
        table.rows.append([name, name in EXP_BASED, row["nonlin", "fwd"], row["numpy", "fwd"],
                           row["nonlin", "bwd"], row["numpy", "bwd"]])

    def ratio(side: str, names_: Sequence[str]) -> float:
        vals = [res[k][side, "fwd"] for k in names_ if k in res and res[k][side, "fwd"] is not None]
        return float(np.mean(vals)) / res["relu"][side, "fwd"] if vals and "relu" in res else float("nan")

    exp3 = [k for k in ("sigmoid", "tanh", "elu") if k in res]
    np_ratio, nl_ratio = ratio("numpy", exp3), ratio("nonlin", exp3)
    nl_exp = float(np.mean([res[k]["nonlin", "fwd"] for k in exp3])) if exp3 else float("nan")
    np_relu = res["relu"]["numpy", "fwd"] if "relu" in res else float("nan")
    claims = [
        Claim("exp makes sigmoid, tanh and ELU expensive; ReLU is computationally efficient.",
              f"forward of sigmoid/tanh/ELU against ReLU: {np_ratio:.1f}x in NumPy, {nl_ratio:.1f}x in nonlin; "
              f"yet nonlin's ({nl_exp:.2f} ns/element) {'beat' if nl_exp < np_relu else 'do not beat'} "
              f"NumPy's ReLU ({np_relu:.2f})", np_ratio > 1.5 and nl_ratio > 1.5),
    ]
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        fig, ax = plt.subplots(figsize=(max(7, 0.45 * len(names)), 4))
        k = np.arange(len(names))
        for i, (side, kind) in enumerate((("nonlin", "fwd"), ("numpy", "fwd"), ("nonlin", "bwd"), ("numpy", "bwd"))):
            vals = [res[nm][side, kind] or 0 for nm in names]
            ax.bar(k + i * 0.2, vals, 0.2, label=f"{side} {kind}")
        ax.set_xticks(k + 0.3, names, rotation=60, fontsize=8)
        ax.set(yscale="log", ylabel="ns / element", title=f"{n:,} float32 elements")
        ax.legend(fontsize=8)
        figure = _save(fig, out, "7_cost.png")
    return Result(7, "Cost", claims, [table], figure, data=res)


# ---------------------------------------------------------------- 8. gallery

def _sides(r: Dict[str, Any]) -> str:
    return ("left and right" if r["sat_left"] and r["sat_right"] else "left" if r["sat_left"]
            else "right" if r["sat_right"] else "none")


def gallery(out: Optional[str] = None) -> Result:
    names = list(nn.ELEMENTWISE) + (["prelu"] if hasattr(nl, "prelu") else [])
    x = np.linspace(-6, 6, 1201)
    z = np.random.default_rng(0).standard_normal(200_000)
    table = Table(["activation", "f(-6)", "f(6)", "f'(-6)", "f'(0)", "f'(6)", "saturates left", "saturates right",
                   "mean f(z), z~N(0,1)"], [], "saturates: |f'| < 0.01 at ∓6; the mean measures zero-centring")
    curves: Dict[Any, Any] = {}
    res: Dict[Any, Any] = {}
    for name in names:
        if name == "prelu":
            f, df = partial(nl.prelu, weight=0.25), partial(nl.prelu_derivative, weight=0.25)
        else:  # the derivative takes the backward's parameters (threshold's has no value)
            layer = nn.Activation(name)
            f, df = partial(getattr(nl, name), **layer.p), partial(getattr(nl, name + "_derivative"), **layer.bp)
        y, dy = f(x), df(x)
        curves[name] = (y, dy)
        ends = df(np.array([-6.0, 0.0, 6.0]))
        res[name] = {"sat_left": abs(ends[0]) < 0.01, "sat_right": abs(ends[2]) < 0.01, "mean": float(np.mean(f(z)))}
        table.rows.append([name, float(y[0]), float(y[-1]), float(ends[0]), float(ends[1]), float(ends[2]),
                           res[name]["sat_left"], res[name]["sat_right"], res[name]["mean"]])
    claims = [
        Claim("sigmoid and tanh saturate (both sides); ReLU does not saturate in the positive region; "
              "Leaky ReLU does not saturate.",
              "saturating sides: " + ", ".join(f"{k} {_sides(res[k])}"
                                               for k in ("sigmoid", "tanh", "relu", "leaky_relu")),
              res["sigmoid"]["sat_left"] and res["sigmoid"]["sat_right"] and res["tanh"]["sat_left"]
              and res["tanh"]["sat_right"] and not res["relu"]["sat_right"] and not res["leaky_relu"]["sat_left"]),
        Claim("sigmoid is not zero-centred; tanh is.",
              f"mean output on N(0,1): sigmoid {res['sigmoid']['mean']:.3f}, tanh {res['tanh']['mean']:.3f}",
              res["sigmoid"]["mean"] > 0.4 and abs(res["tanh"]["mean"]) < 0.01),
        Claim("ELU gives close to zero-centred outputs.",
              f"mean output: elu {res['elu']['mean']:.3f}, relu {res['relu']['mean']:.3f}",
              abs(res["elu"]["mean"]) < 0.5 * res["relu"]["mean"]),
        Claim("Leaky ReLU gives close to zero-centred outputs.",
              f"mean output: leaky_relu {res['leaky_relu']['mean']:.3f}, relu {res['relu']['mean']:.3f}: "
              f"a slope of 0.01 barely moves the mean",
              abs(res["leaky_relu"]["mean"]) < 0.5 * res["relu"]["mean"]),
    ]
    figure = None
    plt = _pyplot()
    if plt is not None and out is not None:
        cols = 6
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 1.9 * rows), squeeze=False)
        for ax, name in zip(axes.ravel(), names):
            y, dy = curves[name]
            ax.plot(x, y, lw=1.5, label="f")
            ax.plot(x, dy, lw=1, ls="--", label="f'")
            ax.axhline(0, color="gray", lw=0.5), ax.axvline(0, color="gray", lw=0.5)
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=6)
        for ax in axes.ravel()[len(names):]:
            ax.axis("off")
        axes[0, 0].legend(fontsize=7)
        figure = _save(fig, out, "8_gallery.png")
    return Result(8, "Gallery", claims, [table], figure, data=res)


# ---------------------------------------------------------------- the command

EXPERIMENTS: List[Tuple[int, str, Callable[..., Result]]] = [
    (1, "Linear vs non-linear", linear_vs_nonlinear),
    (2, "Saturation", saturation),
    (3, "Zero-centring", zero_centring),
    (4, "Dead units", dead_units),
    (5, "Convergence", convergence),
    (6, "Constructions", constructions),
    (7, "Cost", cost),
    (8, "Gallery", gallery),
]


def _has_sklearn() -> bool:
    try:
        import sklearn.datasets  # noqa: F401  (experiment 5's data)
    except ImportError:
        return False
    return True


def report(results: List[Result], seconds: float, notes: List[str]) -> str:
    lines = ["# The lecture, measured\n",
             f"`python -m nonlin tour`: nonlin {nl.__version__}, {nl.info()['simd']}, {nl.info()['threads']} threads, "
             f"{seconds:.0f} s. Every number below comes from a run of the experiment it sits in.\n"]
    lines += [f"> {note}\n" for note in notes]
    lines += ["## Summary\n", "| # | claim (lecture) | measured | agrees |", "|---|---|---|---|"]
    for r in results:
        for c in r.claims:
            lines.append(f"| {r.number} | {_md(c.claim)} | {_md(c.measured)} | {'yes' if c.agrees else '**no**'} |")
    for r in results:
        lines.append(f"\n## {r.number}. {r.title}\n")
        for c in r.claims:
            lines.append(f"- *{c.claim}* — {c.measured}. **{'Agrees' if c.agrees else 'Disagrees'}.**")
        for t in r.tables:
            lines.append("\n" + t.markdown())
        if r.figure:
            lines.append(f"\n![{r.title}]({r.figure})")
        lines.append(f"\n({r.seconds:.1f} s)")
    return "\n".join(lines) + "\n"


def run(out: str = "nonlin-tour", only: Optional[Sequence[int]] = None, seed: int = 0,
        progress: Callable[..., Any] = print) -> List[Result]:
    os.makedirs(out, exist_ok=True)
    notes: List[str] = []
    if _pyplot() is None:
        notes.append("matplotlib is not installed, so there are no figures: pip install 'nonlin[plot]' "
                     "(or pip install matplotlib).")
        progress(notes[-1])
    results: List[Result] = []
    t0 = time.perf_counter()
    for number, title, fn in EXPERIMENTS:
        if only and number not in only:
            continue
        if fn is convergence and not _has_sklearn():
            notes.append("Experiment 5 (convergence) needs scikit-learn's bundled digits: pip install 'nonlin[tour]' "
                         "(or pip install scikit-learn). Skipped.")
            progress(notes[-1])
            continue
        progress(f"[{number}/8] {title} ...")
        t = time.perf_counter()
        r = fn(seed=seed, out=out) if "seed" in fn.__code__.co_varnames else fn(out=out)
        r.seconds = time.perf_counter() - t
        results.append(r)
        for tab in r.tables:
            progress("\n" + tab.text())
        for c in r.claims:
            progress(f"  {'AGREES   ' if c.agrees else 'DISAGREES'} {c.claim}\n            {c.measured}")
        progress(f"  ({r.seconds:.1f} s{', figure ' + os.path.join(out, r.figure) if r.figure else ''})\n")
    seconds = time.perf_counter() - t0
    path = os.path.join(out, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(report(results, seconds, notes))
    progress(f"report: {path} ({seconds:.0f} s)")
    return results


def main(out: str = "nonlin-tour", only: Optional[Sequence[int]] = None, seed: int = 0) -> int:
    run(out, only, seed)
    return 0
