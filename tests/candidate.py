"""A second model artifact for tests that need two: the default's network with its output layer's weights scaled,
so every review's p_negative differs from the default's while the tokenizer, and so what is readable, stays the same."""

from __future__ import annotations

from pathlib import Path


def perturbed_copy(source: Path, out: Path, scale: float = 0.5) -> Path:
    """Save ``source``'s model with its last layer's kernel times ``scale`` as a new artifact (its own version)."""
    import keras

    from model import artifact
    from model.architecture import OUTPUT_LAYER
    from model.tokenizer import KerasTokenizer

    model = keras.saving.load_model(source / artifact.MODEL_FILE, compile=False, safe_mode=True)
    output = model.get_layer(OUTPUT_LAYER)
    kernel, *rest = output.get_weights()
    output.set_weights([kernel * scale, *rest])
    tokenizer = KerasTokenizer.from_json((source / artifact.TOKENIZER_FILE).read_text(encoding="utf-8"))
    return artifact.save(out, model, tokenizer, {"preset": "candidate"})
