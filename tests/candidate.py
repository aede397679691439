"""A second model artifact for tests that need two: the default's network with changed weights, so p_negative
differs from the default's while the tokenizer, and so what is readable, stays the same."""

from __future__ import annotations

from pathlib import Path


def perturbed_copy(source: Path, out: Path, scale: float = 0.5, noise: float = 0.0, seed: int = 0) -> Path:
    """Save ``source``'s model as a new artifact (its own version): its last layer's kernel times ``scale``, and
    every weight moved by Gaussian noise of ``noise`` times that tensor's spread (which flips some labels)."""
    import keras
    import numpy as np

    from model import artifact
    from model.architecture import OUTPUT_LAYER
    from model.tokenizer import KerasTokenizer

    model = keras.saving.load_model(source / artifact.MODEL_FILE, compile=False, safe_mode=True)
    output = model.get_layer(OUTPUT_LAYER)
    kernel, *rest = output.get_weights()
    output.set_weights([kernel * scale, *rest])
    if noise:
        rng = np.random.default_rng(seed)
        model.set_weights(
            [w + rng.normal(0.0, noise * float(w.std() or 1.0), w.shape).astype(w.dtype) for w in model.get_weights()]
        )
    tokenizer = KerasTokenizer.from_json((source / artifact.TOKENIZER_FILE).read_text(encoding="utf-8"))
    return artifact.save(out, model, tokenizer, {"preset": "candidate"})
