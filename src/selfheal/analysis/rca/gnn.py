"""A small graph neural network that ranks root causes over the propagation graph.

The seed design's learned ranker. It reads the same local evidence the walk
reads (one number per service, from ``ranker.py``) plus the graph's shape, and
scores every service with two rounds of message passing along and against the
call edges (a GraphSAGE-style mean aggregator: Hamilton, Ying, Leskovec,
"Inductive Representation Learning on Large Graphs", NeurIPS 2017) followed by a
softmax over the services of the incident.

It is trained only on faults *simulated* over random layered service graphs
(``simulate``): a root is drawn, its symptom travels up to its callers with
random attenuation or amplification, unrelated services get noise. It never
sees benchmark data or labels. Training (``python -m selfheal.analysis.rca.gnn``,
about two minutes, fixed seed) writes ``gnn_weights.json`` (plain numbers, no
pickle), which is loaded on first use. It needs the optional ``torch`` extra
(imported lazily); without torch the ranker simply leaves this stage out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from selfheal.core.errors import ModelFormatError

FEATURES = 7
HIDDEN = 32
SEED = 7
TRAIN_GRAPHS = 1200
EPOCHS = 20
BATCH = 40


def node_features(graph: nx.DiGraph, local: Mapping[str, float], nodes: list[str]) -> np.ndarray:
    """Per node: own evidence, callee and caller evidence (max, mean), degrees, leaf flag."""
    feats = np.zeros((len(nodes), FEATURES), dtype=np.float32)
    for i, n in enumerate(nodes):
        callees = list(graph.successors(n)) if n in graph else []
        callers = list(graph.predecessors(n)) if n in graph else []
        down = [local.get(c, 0.0) for c in callees] or [0.0]
        up = [local.get(c, 0.0) for c in callers] or [0.0]
        feats[i] = (
            local.get(n, 0.0),
            max(down),
            float(np.mean(down)),
            max(up),
            math.log1p(len(callees)),
            math.log1p(len(callers)),
            1.0 if not callees else 0.0,
        )
    return feats


def _adjacency(graph: nx.DiGraph, nodes: Sequence[Hashable]) -> tuple[Any, Any]:
    import torch

    index = {n: i for i, n in enumerate(nodes)}
    down = torch.zeros((len(nodes), len(nodes)))
    for u, v in graph.edges:
        if u in index and v in index and u != v:
            down[index[u], index[v]] = 1.0
    up = down.t().clone()
    down = down / down.sum(1, keepdim=True).clamp(min=1.0)
    up = up / up.sum(1, keepdim=True).clamp(min=1.0)
    return down, up


def _model() -> Any:
    import torch
    from torch import nn

    class RootGNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(
                [nn.Linear(3 * FEATURES, HIDDEN), nn.Linear(3 * HIDDEN, HIDDEN)]
            )
            self.out = nn.Linear(HIDDEN, 1)

        def forward(self, x: Any, down: Any, up: Any) -> Any:
            h = x
            for layer in self.layers:
                h = torch.relu(layer(torch.cat([h, down @ h, up @ h], dim=1)))
            return self.out(h).squeeze(1)

    return RootGNN()


def simulate(rng: np.random.Generator) -> tuple[nx.DiGraph, dict[str, float], str]:
    """One synthetic incident: a layered call graph, a root, and noisy local evidence."""
    layers = int(rng.integers(2, 6))
    graph = nx.DiGraph()
    previous = ["s0"]
    graph.add_node("s0")
    count = 1
    for _ in range(layers):
        width = int(rng.integers(1, 8))
        current = [f"s{count + i}" for i in range(width)]
        count += width
        for node in current:
            callers = rng.choice(
                previous, size=int(rng.integers(1, len(previous) + 1)), replace=False
            )
            for c in callers:
                graph.add_edge(str(c), node)
        previous = previous + current if rng.random() < 0.3 else current
    nodes = sorted(graph.nodes)
    root = str(rng.choice(nodes))
    signal = {n: 0.0 for n in nodes}
    signal[root] = float(rng.uniform(0.4, 1.0))
    frontier = [root]
    while frontier:
        node = frontier.pop()
        for caller in graph.predecessors(node):
            if rng.random() < 0.8:
                value = signal[node] * float(rng.uniform(0.4, 1.3))
                if value > signal[caller]:
                    signal[caller] = min(1.0, value)
                    frontier.append(caller)
    for n in nodes:
        if rng.random() < 0.3:
            signal[n] = max(signal[n], float(rng.uniform(0.0, 0.6)))
    top = max(signal.values()) or 1.0
    local = {n: (v / top) ** 2 for n, v in signal.items()}  # the ranker's normalisation
    return graph, local, root


def _batch(items: list[tuple[nx.DiGraph, dict[str, float], str]]) -> tuple[Any, ...]:
    """Many small graphs as one block-diagonal graph, with each graph's node span."""
    import torch

    union = nx.DiGraph()
    feats, spans, targets = [], [], []
    offset = 0
    for k, (graph, local, root) in enumerate(items):
        nodes = sorted(graph.nodes)
        feats.append(node_features(graph, local, nodes))
        union.add_nodes_from((k, n) for n in nodes)
        union.add_edges_from(((k, u), (k, v)) for u, v in graph.edges)
        spans.append((offset, offset + len(nodes)))
        targets.append(offset + nodes.index(root))
        offset += len(nodes)
    order = [(k, n) for k, (g, _, _) in enumerate(items) for n in sorted(g.nodes)]
    down, up = _adjacency(union, order)
    return torch.from_numpy(np.concatenate(feats)), down, up, spans, targets


def train() -> Any:
    """Train on simulated incidents (deterministic for the seed; a minute or two)."""
    import torch

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    incidents = [simulate(rng) for _ in range(TRAIN_GRAPHS)]
    batches = [_batch(incidents[i : i + BATCH]) for i in range(0, len(incidents), BATCH)]
    model = _model()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(EPOCHS):
        for i in rng.permutation(len(batches)):
            x, down, up, spans, targets = batches[int(i)]
            logits = model(x, down, up)
            loss = torch.stack(
                [
                    torch.logsumexp(logits[a:b], dim=0) - logits[t]
                    for (a, b), t in zip(spans, targets, strict=True)
                ]
            ).mean()
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
    model.eval()
    return model


WEIGHTS_FILE = Path(__file__).with_name("gnn_weights.json")
FORMAT = f"selfheal-rca-gnn/1 features={FEATURES} hidden={HIDDEN}"


def save(model: Any, path: Path = WEIGHTS_FILE) -> None:
    """Write the weights as plain JSON numbers (no pickle)."""
    state = {k: v.detach().cpu().numpy().tolist() for k, v in model.state_dict().items()}
    path.write_text(json.dumps({"format": FORMAT, "seed": SEED, "state": state}))


def load(path: Path = WEIGHTS_FILE) -> Any:
    import torch

    try:
        blob = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"cannot read GNN weights {path}: {exc}") from exc
    if blob.get("format") != FORMAT:
        raise ModelFormatError(f"{path} holds {blob.get('format')!r}, expected {FORMAT!r}")
    model = _model()
    state = {k: torch.tensor(v, dtype=torch.float32) for k, v in blob["state"].items()}
    model.load_state_dict(state)
    model.eval()
    return model


@lru_cache(maxsize=1)
def trained_model() -> Any:
    """The shipped weights (trained by ``python -m selfheal.analysis.rca.gnn``),
    or a fresh training run when they are missing or stale."""
    if WEIGHTS_FILE.exists():
        try:
            return load()
        except ModelFormatError:
            pass
    return train()


def gnn_scores(graph: nx.DiGraph, local: Mapping[str, float]) -> dict[str, float]:
    """Probability, per service, that it is the root (normalised to a max of 1)."""
    import torch

    nodes = sorted(set(graph.nodes) | set(local))
    if not nodes:
        return {}
    model = trained_model()
    down, up = _adjacency(graph, nodes)
    x = torch.from_numpy(node_features(graph, local, nodes))
    with torch.no_grad():
        probs = torch.softmax(model(x, down, up), dim=0).numpy()
    top = float(probs.max()) or 1.0
    return {n: float(p) / top for n, p in zip(nodes, probs, strict=True)}


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    save(train())
    print(f"wrote {WEIGHTS_FILE}")
