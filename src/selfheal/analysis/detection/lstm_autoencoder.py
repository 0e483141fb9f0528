"""LSTM autoencoder scored by reconstruction error (torch, optional).

Malhotra et al., "LSTM-based Encoder-Decoder for Multi-sensor Anomaly
Detection", ICML Anomaly Detection Workshop 2016: an encoder LSTM compresses
the last ``window`` samples into a small state, a decoder LSTM rebuilds the
window from it, and a window the model cannot rebuild — a shape it never
learned — scores high. Samples are standardised by a slow EWMA of the series.
The network trains on a ring buffer of recent windows: first after
``min_fit`` samples, then every ``refit_every`` samples for a few epochs
(fixed seed, so runs repeat).

torch is an optional extra (``pip install selfheal[ml]``): it is imported only
when this detector first trains, never when the registry loads. Weights are
saved as plain arrays (npz), never pickled.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.calibration import AdaptiveCalibrator, Calibrator
from selfheal.analysis.detection.registry import register


def _build_model(hidden: int) -> Any:
    import torch
    from torch import nn

    # One sample at a time through a tiny network: extra intra-op threads only
    # add synchronisation (20x slower on a busy 2-core host). Process-wide, and
    # this module is the product's only torch user.
    torch.set_num_threads(1)

    class _Autoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.LSTM(1, hidden, batch_first=True)
            self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
            self.out = nn.Linear(hidden, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, (h, _) = self.encoder(x)
            code = h[-1].unsqueeze(1).repeat(1, x.shape[1], 1)
            y, _ = self.decoder(code)
            return cast("torch.Tensor", self.out(y))

    return _Autoencoder()


@register("lstmae")
class LstmAutoencoder(Detector):
    """Raw score = mean squared reconstruction error of the current window."""

    name = "lstmae"

    def __init__(
        self,
        window: int = 16,
        hidden: int = 8,
        buffer_size: int = 512,
        min_fit: int = 256,
        refit_every: int = 1024,
        epochs: int = 4,
        batch_size: int = 64,
        learning_rate: float = 0.01,
        alpha: float = 0.01,
        seed: int = 0,
    ) -> None:
        if window < 2 or hidden < 1 or buffer_size < min_fit or min_fit < 2:
            raise ValueError("need window >= 2, hidden >= 1, buffer_size >= min_fit >= 2")
        self.window = int(window)
        self.hidden = int(hidden)
        self.buffer_size = int(buffer_size)
        self.min_fit = int(min_fit)
        self.refit_every = int(refit_every)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.recent = np.zeros(self.window)
        self.buffer = np.zeros((self.buffer_size, self.window), dtype=np.float32)
        self.buffered = 0
        self.pos = 0
        self.since_fit = 0
        self.fits = 0
        self._model: Any = None

    @property
    def warm_up_samples(self) -> int:
        return self.min_fit + self.window

    def default_calibrator(self) -> Calibrator:
        return AdaptiveCalibrator(alpha=0.005, min_samples=30)

    def _features(self, x: float) -> np.ndarray:
        std = math.sqrt(self.var) + 1e-9 + 1e-3 * abs(self.mean)
        return ((np.append(self.recent[1:], x) - self.mean) / std).astype(np.float32)

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        if self._model is None:
            return 0.0
        import torch

        window = torch.from_numpy(self._features(x)).reshape(1, self.window, 1)
        with torch.no_grad():
            rebuilt = self._model(window)
        return float(torch.mean((rebuilt - window) ** 2))

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        if self.n >= self.window:
            self.buffer[self.pos] = self._features(x)
            self.pos = (self.pos + 1) % self.buffer_size
            self.buffered = min(self.buffered + 1, self.buffer_size)
            self.since_fit += 1
        self.recent = np.append(self.recent[1:], x)
        self.n += 1
        a = max(self.alpha, 1.0 / self.n)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        due = self._model is None and self.buffered >= self.min_fit
        if due or (self._model is not None and self.since_fit >= self.refit_every):
            self._train()

    def _train(self) -> None:
        import torch

        torch.manual_seed(self.seed + self.fits)
        if self._model is None:
            self._model = _build_model(self.hidden)
        model = self._model
        data = torch.from_numpy(self.buffer[: self.buffered].copy()).unsqueeze(-1)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.seed + self.fits)
        model.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(data), generator=generator)
            for start in range(0, len(data), self.batch_size):
                batch = data[order[start : start + self.batch_size]]
                optimiser.zero_grad()
                loss = torch.mean((model(batch) - batch) ** 2)
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
        model.eval()
        self.fits += 1
        self.since_fit = 0

    def params(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "hidden": self.hidden,
            "buffer_size": self.buffer_size,
            "min_fit": self.min_fit,
            "refit_every": self.refit_every,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "alpha": self.alpha,
            "seed": self.seed,
        }

    def get_state(self) -> State:
        state: State = {
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
            "recent": self.recent.copy(),
            "buffer": self.buffer.copy(),
            "buffered": self.buffered,
            "pos": self.pos,
            "since_fit": self.since_fit,
            "fits": self.fits,
            "trained": self._model is not None,
        }
        if self._model is not None:
            for key, tensor in self._model.state_dict().items():
                state[f"weights.{key}"] = tensor.detach().cpu().numpy().copy()
        return state

    def set_state(self, state: State) -> None:
        buffer = np.asarray(state["buffer"], dtype=np.float32)
        recent = np.asarray(state["recent"], dtype=np.float64)
        if buffer.shape != (self.buffer_size, self.window) or recent.shape != (self.window,):
            raise ValueError("LSTM autoencoder state does not match window/buffer_size")
        self.n, self.mean, self.var = int(state["n"]), float(state["mean"]), float(state["var"])
        self.recent, self.buffer = recent, buffer
        self.buffered, self.pos = int(state["buffered"]), int(state["pos"])
        self.since_fit, self.fits = int(state["since_fit"]), int(state["fits"])
        self._model = None
        if bool(state["trained"]):
            import torch

            model = _build_model(self.hidden)
            prefix = "weights."
            weights = {
                k[len(prefix) :]: torch.from_numpy(np.asarray(v))
                for k, v in state.items()
                if k.startswith(prefix)
            }
            try:
                model.load_state_dict(weights)
            except RuntimeError as exc:
                raise ValueError(f"LSTM autoencoder weights do not fit the network: {exc}") from exc
            model.eval()
            self._model = model
