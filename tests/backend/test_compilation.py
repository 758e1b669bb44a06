"""JAX's compilation cache."""

import keras
import numpy as np

import keras_bam


def test_compilation_cache_keeps_programs_on_jax_only(tmp_path):
    directory = tmp_path / "xla"
    if keras.backend.backend() != "jax":
        assert keras_bam.backend.enable_compilation_cache(directory) is False
        assert not directory.exists()
        return
    import jax

    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
    )
    before = {name: getattr(jax.config, name) for name in names}
    try:
        assert keras_bam.backend.enable_compilation_cache(
            directory, min_compile_seconds=0
        )
        # A program no other test compiles (its shape), so it is compiled here.
        x = np.arange(7 * 13, dtype="float32").reshape(7, 13)
        np.asarray(jax.jit(lambda a: (a @ a.T).sum(axis=0))(x))
        assert any(p.name.startswith("jit_") for p in directory.iterdir())
        assert jax.config.jax_compilation_cache_dir == str(directory)
    finally:
        from jax.experimental.compilation_cache import compilation_cache

        for name, value in before.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()
