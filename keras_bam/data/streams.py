"""The batch-stream protocol that every keras-bam stream shares."""

from __future__ import annotations

from keras.utils import PyDataset

from keras_bam.backend.tf_data import to_tf_dataset


class BatchStream(PyDataset):
    """Base of the batch streams: batches in an order set by a seed and an epoch.

    What `fit`, `as_fit_input` and a resumed run rely on, in one place:

    - `epoch` and `set_epoch(epoch)`: an epoch's order depends on `seed` and
      `epoch` only, so a run resumed in epoch `k` calls `set_epoch(k)` and sees
      the batches of the uninterrupted run.
    - `on_epoch_begin()`: Keras calls it once per epoch; the first call keeps
      `epoch`, each later one moves to the next.
    - `padding_fraction`, `packing` (the `Packing` in use, or `None`) and
      `row_multiple` (packed row counts are multiples of it).
    - `to_tf_dataset()`: the `tf.data` view; `as_fit_input` picks each
      backend's view.

    A new sampling strategy is one subclass: `__len__`, `__getitem__`,
    `padding_fraction`, and `_order_epoch` (make `self.epoch`'s order).

    Args:
        seed: seeds the order.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).

    Example:
    ```python
    class Reversed(keras_bam.data.BatchStream):
        def __init__(self, stream):
            super().__init__(stream.seed)
            self.stream = stream

        def _order_epoch(self):
            self.stream.set_epoch(self.epoch)

        def __len__(self):
            return len(self.stream)

        def __getitem__(self, index):
            return self.stream[len(self.stream) - 1 - index]

        @property
        def padding_fraction(self):
            return self.stream.padding_fraction
    ```
    """

    packing = None
    row_multiple = 1

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)
        self.epoch = 0
        self._started = False

    def _order_epoch(self):
        """Makes the order of `self.epoch`."""
        raise NotImplementedError

    def set_epoch(self, epoch: int):
        """Makes the next epoch `epoch` (for resuming a run)."""
        self.epoch = int(epoch)
        self._started = False
        self._order_epoch()

    def on_epoch_begin(self):
        """Moves to the next epoch's order, except at the first epoch."""
        if self._started:
            self.set_epoch(self.epoch + 1)
        self._started = True

    @property
    def padding_fraction(self) -> float:
        """The share of computed token positions that are padding."""
        raise NotImplementedError

    def to_tf_dataset(self, first_pass_is_build: bool = False):
        """This batch stream as a `tf.data.Dataset`; see `to_tf_dataset`."""
        return to_tf_dataset(self, first_pass_is_build)
