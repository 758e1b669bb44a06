import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_bam
from tests.conftest import make_tiny_backbone


def batch(rng, n=4, length=12):
    return {
        "token_ids": rng.integers(1, 30522, (n, length)).astype("int32"),
        "segment_ids": np.zeros((n, length), "int32"),
        "padding_mask": np.ones((n, length), "int32"),
    }


@pytest.mark.parametrize("task, width", [("rte", 2), ("mnli", 3), ("stsb", 1)])
def test_output_width(tiny_backbone, rng, task, width):
    model = keras_bam.SingleTaskModel(tiny_backbone, task)
    assert model.predict(batch(rng), verbose=0).shape == (4, width)


def test_keras_round_trip(tiny_backbone, rng, tmp_path):
    model = keras_bam.SingleTaskModel(
        tiny_backbone, "mrpc", dropout=0.2, exact_gelu=True
    )
    x = batch(rng)
    path = str(tmp_path / "teacher.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, keras_bam.SingleTaskModel)
    assert loaded.task.name == "mrpc" and loaded.dropout == 0.2 and loaded.exact_gelu
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )


def test_save_without_the_optimizer_state(tiny_backbone, rng, tmp_path):
    """`save(include_optimizer=False)` writes a `.keras` file without the
    optimizer's state or compile settings (loaded uncompiled, same outputs),
    and leaves the saved model's own optimizer as it was."""
    model = keras_bam.SingleTaskModel(tiny_backbone, "rte")
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True)
    )
    x, y = batch(rng, n=8), rng.integers(0, 2, 8)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    whole, light = str(tmp_path / "whole.keras"), str(tmp_path / "light.keras")
    model.save(whole)
    optimizer, steps = model.optimizer, int(model.optimizer.iterations)
    model.save(light, include_optimizer=False)
    assert model.optimizer is optimizer and model.compiled
    assert os.path.getsize(light) < 0.6 * os.path.getsize(whole)
    loaded = keras.saving.load_model(light)
    assert not loaded.compiled and keras.saving.load_model(whole).compiled
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # Trains on as before.
    assert int(model.optimizer.iterations) == steps + 2


def test_exact_gelu_is_kept_on_reload(tiny_backbone, rng, tmp_path):
    """A reloaded model keeps the GELU it was saved with, so outputs are identical."""
    x = batch(rng)
    for exact in (True, False):
        model = keras_bam.SingleTaskModel(tiny_backbone, "rte", exact_gelu=exact)
        path = str(tmp_path / f"m{exact}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0),
            model.predict(x, verbose=0),
            rtol=1e-6,
            atol=1e-6,
        )


def test_task_head_config():
    head = keras_bam.models.TaskHead(3, dropout=0.3, name="h")
    clone = keras_bam.models.TaskHead.from_config(head.get_config())
    assert clone.num_outputs == 3 and clone.dropout == 0.3
    assert clone(np.zeros((2, 8), "float32")).dtype == "float32"


def test_clone_model_copies_a_student_with_exact_gelu(rng):
    """`keras.models.clone_model` gives a student of the same layers, and the
    exact GELU, a registered function, survives the layers' configs."""
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), ["rte", "stsb"])
    clone = keras.models.clone_model(model)
    # The student's own state (λ's step counter) is not a layer of the graph.
    assert len(clone.layers) == len(model.layers)
    for source, target in zip(model.layers, clone.layers):
        target.set_weights(source.get_weights())
    inputs = {
        "token_ids": rng.integers(1, 30522, (3, 9)).astype("int32"),
        "segment_ids": np.zeros((3, 9), "int32"),
        "padding_mask": np.ones((3, 9), "int32"),
    }
    want, got = model.predict(inputs, verbose=0), clone.predict(inputs, verbose=0)
    for task in ("rte", "stsb"):
        np.testing.assert_allclose(got[task], want[task], rtol=1e-5, atol=1e-6)
    encoders = [
        layer
        for layer in clone._flatten_layers()
        if isinstance(layer, keras_hub.layers.TransformerEncoder)
    ]
    assert encoders and all(
        layer.activation is keras_bam.models.bam_bert_backbone.exact_gelu
        for layer in encoders
    )


def _fit_data(rng, kind, n=8, length=10):
    """`(x, y)` for a short `fit` of a `kind` ("single" or "multi") model."""
    x = batch(rng, n, length)
    labels = rng.integers(0, 2, n)
    if kind == "single":
        return x, labels
    return x, {
        "task_id": rng.integers(0, 2, n).astype("int32"),
        "label": labels.astype("float32"),
        "teacher": rng.normal(size=(n, 2)).astype("float32"),
    }


def _compile(model, kind, **kwargs):
    if kind == "single":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer="adam", loss=loss)
    else:
        model.compile(optimizer="adam", **kwargs)


@pytest.mark.parametrize("kind", ["single", "multi"])
@pytest.mark.parametrize("state", ["uncompiled", "compiled", "trained"])
def test_clone_model_gives_the_same_class_config_and_tokenizer(
    tokenizer, rng, kind, state
):
    """A clone of a task model, compiled or trained or not, is a model of its
    class with its config and a copy of its tokenizer, new weights (as Keras's
    clones have), and trains; a compiled student's clone keeps its compile
    arguments (`micro_batches`, `metrics`)."""
    backbone = make_tiny_backbone()
    if kind == "single":
        model = keras_bam.SingleTaskModel(backbone, "rte", tokenizer=tokenizer)
    else:
        model = keras_bam.MultiTaskModel(
            backbone,
            ["rte", "stsb"],
            distillation="fixed",
            task_weights=[1.0, 2.0],
            tokenizer=tokenizer,
            max_length=24,
        )
    x, y = _fit_data(rng, kind)
    if state != "uncompiled":
        _compile(model, kind, micro_batches=2, metrics="glue")
    if state == "trained":
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    clone = keras.models.clone_model(model)
    assert type(clone) is type(model)
    assert clone.get_config() == model.get_config()
    assert clone.tokenizer is not model.tokenizer
    assert clone.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    if kind == "multi":
        assert [t.name for t in clone.tasks] == ["rte", "stsb"]
        assert clone.annealing is not model.annealing
        assert clone.compiled == (state != "uncompiled")
        if state != "uncompiled":
            assert clone.micro_batches == 2
            assert clone.get_compile_config()["metrics"] == "glue"
    outputs = clone.predict(["A raw text.", "Another one."], verbose=0)
    assert (outputs["rte"] if kind == "multi" else outputs).shape == (2, 2)
    _compile(clone, kind, micro_batches=2, metrics="glue")
    history = clone.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def _dropout_types(backbone):
    return [
        type(layer)
        for layer in backbone._flatten_layers()
        if isinstance(layer, keras.layers.Dropout)
    ]


def _gelus(backbone):
    return [layer.activation for layer in backbone.transformer_layers]


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_a_keras_hub_backbone_passed_in_is_left_as_it_was(rng, kind):
    """A task model runs a copy of a KerasHub backbone (exact GELU,
    `BitGeneratorDropout`, the same weights and seed states), and the caller's
    backbone keeps its class, GELU, dropout layers and weights, also after the
    model trains."""
    backbone = make_tiny_backbone()
    gelus, dropouts = _gelus(backbone), _dropout_types(backbone)
    variables = [np.array(v) for v in backbone.variables]
    if kind == "single":
        model = keras_bam.SingleTaskModel(backbone, "rte")
    else:
        model = keras_bam.MultiTaskModel(backbone, ["rte", "stsb"], distillation="gold")
    assert type(backbone) is keras_hub.models.BertBackbone
    assert _gelus(backbone) == gelus and _dropout_types(backbone) == dropouts
    assert type(model.backbone) is keras_bam.models.BamBertBackbone
    assert set(_dropout_types(model.backbone)) == {keras_bam.models.BitGeneratorDropout}
    assert set(_gelus(model.backbone)) == {
        keras_bam.models.bam_bert_backbone.exact_gelu
    }
    for copied, kept in zip(model.backbone.variables, variables, strict=True):
        np.testing.assert_array_equal(np.asarray(copied), kept)
    _compile(model, kind)
    model.fit(*_fit_data(rng, kind), batch_size=4, epochs=1, verbose=0)
    for current, kept in zip(backbone.variables, variables, strict=True):
        np.testing.assert_array_equal(np.asarray(current), kept)


def test_the_copy_of_a_backbone_draws_nothing_from_the_global_seed():
    """Built at a fixed seed on a KerasHub backbone (copied) or on the same
    backbone converted in place, a model starts from the same weights and seed
    states: the copy leaves every later random draw (the heads') as it was."""
    keras.utils.set_random_seed(1)
    copied = keras_bam.MultiTaskModel(make_tiny_backbone(seed=1), ["rte", "stsb"])
    keras.utils.set_random_seed(1)
    backbone = keras_bam.models.as_task_backbone(
        make_tiny_backbone(seed=1), in_place=True
    )
    converted = keras_bam.MultiTaskModel(backbone, ["rte", "stsb"])
    assert converted.backbone is backbone
    for a, b in zip(copied.variables, converted.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_librarys_own_backbones_are_not_copied(tokenizer):
    """`new_backbone_and_tokenizer` and `prepared_backbone` give a backbone in
    the task models' form, which a model holds uncopied; `prepared_backbone`
    copies a KerasHub backbone passed in, and leaves it as it was."""
    backbone, _ = keras_bam.models.new_backbone_and_tokenizer(
        make_tiny_backbone, tokenizer
    )
    assert type(backbone) is keras_bam.models.BamBertBackbone
    assert keras_bam.SingleTaskModel(backbone, "rte").backbone is backbone
    recipe = keras_bam.FineTuningRecipe(seed=3)
    prepared, _, _ = keras_bam.training.prepared_backbone(backbone, tokenizer, recipe)
    assert prepared is backbone
    mine = make_tiny_backbone()
    states = [np.array(v) for v in mine.non_trainable_variables]
    prepared, _, _ = keras_bam.training.prepared_backbone(mine, tokenizer, recipe)
    assert type(mine) is keras_hub.models.BertBackbone
    assert type(prepared) is keras_bam.models.BamBertBackbone
    for current, kept in zip(mine.non_trainable_variables, states, strict=True):
        np.testing.assert_array_equal(np.asarray(current), kept)
    assert keras_bam.MultiTaskModel(prepared, ["rte"]).backbone is prepared


def test_a_tokenizer_larger_than_the_backbones_vocabulary_is_refused(tokenizer):
    """MiniLM's tokenizer (30522 tokens) on a backbone of 1000 embeddings would
    give ids without an embedding."""
    small = make_tiny_backbone(num_layers=1, vocabulary_size=1000)
    with pytest.raises(ValueError, match="vocabulary has 30522 tokens.*has 1000"):
        keras_bam.SingleTaskModel(small, "rte", tokenizer=tokenizer)
    keras_bam.SingleTaskModel(small, "rte")  # Without a tokenizer: ids unchecked.


@pytest.mark.parametrize("bad_id", [30522, 50000, -1])
def test_token_ids_outside_the_vocabulary_are_refused(rng, bad_id):
    """On TensorFlow such ids failed deep in the graph, on JAX they gave NaN:
    `fit`, `evaluate` and `predict` refuse NumPy inputs holding them, naming
    the largest id and the vocabulary size."""
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "rte")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = _fit_data(rng, "single", n=4)
    x["token_ids"][1, 3] = bad_id
    largest = max(bad_id, int(x["token_ids"].max()))
    message = f"ids from -?\\d+ to {largest}.*vocabulary has 30522 tokens"
    with pytest.raises(ValueError, match=message):
        model.predict(x, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.fit(x=x, y=y, verbose=0)
    good, _ = _fit_data(rng, "single", n=4)
    with pytest.raises(ValueError, match=message):
        model.fit(good, y, validation_data=(x, y), verbose=0)


def test_raw_strings_in_predict_and_a_saved_tokenizer(tokenizer, tmp_path):
    """A task model with a tokenizer (here given as KerasHub's preprocessor)
    takes raw strings in `predict`, encoded as in training, and keeps the
    tokenizer's vocabulary when saved."""
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer)
    model = keras_bam.MultiTaskModel(
        make_tiny_backbone(), ["rte", "cola"], tokenizer=preprocessor, max_length=32
    )
    assert model.tokenizer is tokenizer
    pairs = (["A man sleeps.", "It rains."], ["Nobody sleeps.", "The street is wet."])
    encoded = keras_bam.data.encode_texts(pairs, tokenizer, 32)
    want = model.predict(encoded.pad_batch([0, 1]), verbose=0)
    got = model.predict(pairs, verbose=0)
    np.testing.assert_allclose(got["rte"], want["rte"], rtol=1e-5, atol=1e-6)
    single = model.predict("The cat sat on the mat.", verbose=0)
    assert single["cola"].shape == (1, 2)
    path = tmp_path / "student.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert reloaded.max_length == 32
    again = reloaded.predict(pairs, verbose=0)
    np.testing.assert_allclose(again["rte"], got["rte"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Raw strings need a tokenizer"):
        keras_bam.SingleTaskModel(make_tiny_backbone(), "cola").predict(["Hi."])


PREMISES = ["A man sleeps.", "It rains.", "Dogs bark."]
HYPOTHESES = ["Nobody sleeps.", "The street is wet.", "A dog barks."]


@pytest.mark.parametrize(
    "form",
    [
        "tuple_of_lists",
        "list_of_pairs",
        "array_of_pairs",
        "tuple_of_arrays",
        "dataset_of_pairs",
        "batched_dataset",
    ],
)
def test_predict_reads_pairs_in_every_form_alike(tokenizer, form):
    """Rows or columns, lists, NumPy or tf.data: one meaning, the pairs'."""
    model = keras_bam.SingleTaskModel(
        make_tiny_backbone(), "rte", tokenizer=tokenizer, max_length=32
    )
    encoded = keras_bam.data.encode_texts((PREMISES, HYPOTHESES), tokenizer, 32)
    want = model.predict(encoded.pad_batch([0, 1, 2]), verbose=0)
    pairs = list(zip(PREMISES, HYPOTHESES))
    x = {
        "tuple_of_lists": (PREMISES, HYPOTHESES),
        "list_of_pairs": pairs,
        "array_of_pairs": np.array(pairs),
        "tuple_of_arrays": (np.array(PREMISES), np.array(HYPOTHESES)),
        "dataset_of_pairs": tf.data.Dataset.from_tensor_slices((PREMISES, HYPOTHESES)),
        "batched_dataset": tf.data.Dataset.from_tensor_slices(
            (PREMISES, HYPOTHESES)
        ).batch(2),
    }[form]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-6)


def test_predict_reads_single_texts_from_arrays_and_datasets(tokenizer):
    model = keras_bam.SingleTaskModel(
        make_tiny_backbone(), "cola", tokenizer=tokenizer, max_length=32
    )
    want = model.predict(PREMISES, verbose=0)
    for x in (
        np.array(PREMISES),
        tf.data.Dataset.from_tensor_slices(PREMISES),
        tf.data.Dataset.from_tensor_slices(PREMISES).batch(2),
    ):
        np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-6)


@pytest.mark.parametrize(
    "x, message",
    [
        (
            [["A man sleeps.", "Nobody sleeps."], ["It rains.", "It is wet."]],
            "Two items",
        ),
        ((("A man sleeps.", "Nobody sleeps."), ("It rains.", "Wet.")), "Two items"),
        (["A man sleeps.", ("It rains.", "Wet.")], "Mixed or malformed"),
        ((["A.", "B.", "C."], ["D."]), "3 first texts but 1 second texts"),
        (np.array([["a", "b", "c"]]), "array of strings"),
    ],
)
def test_ambiguous_or_malformed_texts_are_refused(tokenizer, x, message):
    """Never a silent transposition: two items of two texts are two pairs or
    two columns, and the model does not guess which."""
    model = keras_bam.SingleTaskModel(
        make_tiny_backbone(), "rte", tokenizer=tokenizer, max_length=32
    )
    with pytest.raises(ValueError, match=message):
        model.predict(x, verbose=0)


@pytest.mark.integration
def test_from_preset_loads_backbone_and_tokenizer():
    model = keras_bam.SingleTaskModel.from_preset(None, "sst2", max_length=64)
    assert isinstance(model.backbone, keras_bam.models.BamBertBackbone)
    assert model.tokenizer is not None and model.max_length == 64
    texts = ["A gripping, beautiful film.", "Dull."]
    encoded = keras_bam.data.encode_texts((texts,), keras_bam.load_tokenizer(), 64)
    np.testing.assert_allclose(
        model.predict(texts, verbose=0),
        model.predict(encoded.pad_batch([0, 1]), verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_student_refuses_a_loss_of_its_own():
    """BAM's loss is the model's; `compile(loss="mse")` used to be accepted and
    ignored."""
    model = keras_bam.MultiTaskModel(make_tiny_backbone(), ["rte", "stsb"])
    with pytest.raises(ValueError, match="A student's loss is its own.*'mse'"):
        model.compile(optimizer="adam", loss="mse")
    model.compile(optimizer="adam")  # The model's own loss.


def test_save_to_preset_round_trip_keeps_weights_tasks_and_tokenizer(
    tokenizer, tmp_path
):
    """A student saved as a preset folder (KerasHub's layout) comes back from
    `from_preset` with its weights, its tasks (a task of your own included)
    and its tokenizer."""
    topic = keras_bam.tasks.Task(
        name="preset_topic", text_fields=("text",), label_names=("a", "b", "c")
    )
    model = keras_bam.MultiTaskModel(
        make_tiny_backbone(), ["rte", topic], tokenizer=tokenizer, max_length=32
    )
    model.get_layer("preset_topic_head").set_weights(
        [w + 0.5 for w in model.get_layer("preset_topic_head").get_weights()]
    )
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    again = keras_bam.MultiTaskModel.from_preset(preset)
    assert [t.name for t in again.tasks] == ["rte", "preset_topic"]
    assert again.tasks[1].label_names == ("a", "b", "c") and again.max_length == 32
    assert again.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    for saved, loaded in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(loaded, saved)
    texts = ["A man sleeps.", "It rains."]
    want = model.predict(texts, verbose=0)
    got = again.predict(texts, verbose=0)
    np.testing.assert_allclose(got["preset_topic"], want["preset_topic"], atol=1e-6)
    with pytest.raises(ValueError, match="holds a saved MultiTaskModel"):
        keras_bam.SingleTaskModel.from_preset(preset)
