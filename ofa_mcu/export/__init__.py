"""INT8 export: static torch subnet -> ``.tflite`` for TFLM, verified on TFLM's kernels.

Modules (TensorFlow is imported lazily, only by ``tf_build`` and ``convert``):

- ``layers``: fold BatchNorm into the convs of a :class:`~ofa_mcu.supernet.extract.StaticSubnet`.
- ``tf_build``: the NHWC TensorFlow graph of the folded subnet.
- ``convert``: ``export_tflite(static_subnet, representative_nhwc) -> bytes`` (TFLiteConverter,
  full integer, per-channel conv weights, per-tensor classifier, deterministic, op whitelist).
- ``verify``: IR vs ``.tflite`` op for op, accuracy, TFLite reference-kernel agreement.
- ``pipeline``: the ``export`` and ``inspect`` commands' work.

The ``.tflite`` is read back with :mod:`ofa_mcu.tflite` (metadata included) and run on the host
TFLM with :mod:`ofa_mcu.tflm.host` / :mod:`ofa_mcu.tflm.arena`.
"""
