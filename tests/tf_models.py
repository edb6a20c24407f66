"""Small int8 models of the MLPerf Tiny reference op shapes, built with Keras and TensorFlow's
converter (tests only; never the reference models themselves, which stay out of the repository).

- ``resnet``: ResNet-8-like: 3x3 conv stem, a residual block with an identity shortcut, a
  stride-2 block whose shortcut is a 1x1 stride-2 conv, AVERAGE_POOL_2D, RESHAPE, FC.
- ``dscnn``: DS-CNN-like (KWS): a 10x4 stride-2 SAME conv over a 49x10 input, depthwise 3x3 +
  pointwise blocks, AVERAGE_POOL_2D over the whole 25x5 map, FC.
- ``mobilenet``: MobileNetV1-like (VWW): stride-2 stem, depthwise + pointwise pairs, stride-2
  depthwise convs (SAME and, after a ZeroPadding2D = PAD, VALID), MAX_POOL_2D, CONCATENATION of two
  branches, a VALID 3x2 stride (2, 1) conv, MEAN.
- ``autoencoder``: the AD dense autoencoder (FC layers with ReLU), per-tensor or per-channel
  weights.
- ``reshaped``: a RESHAPE between two convs (one the converter keeps: TFLM gives it a node and a
  buffer of its own, the layer IR a view), AVERAGE_POOL_2D, FC.

``softmax=True`` ends a model in SOFTMAX, ``sigmoid=True`` in LOGISTIC (an op the native runtime
does not implement); ``float_io=True`` keeps a float input and output (the
converter then adds QUANTIZE / DEQUANTIZE). Conversion is deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SHAPES: dict[str, tuple[int, ...]] = {
    "resnet": (16, 16, 3),
    "dscnn": (49, 10, 1),
    "mobilenet": (32, 32, 3),
    "autoencoder": (64,),
    "reshaped": (16, 12, 2),
}


def _resnet(tf: Any, x: Any) -> Any:
    L = tf.keras.layers
    h = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(h)
    y = L.Conv2D(8, 3, padding="same")(y)
    h = L.ReLU()(L.Add()([h, y]))
    y = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(h)
    y = L.Conv2D(16, 3, padding="same")(y)
    s = L.Conv2D(16, 1, strides=2, padding="same")(h)
    h = L.ReLU()(L.Add()([y, s]))
    h = L.AveragePooling2D(pool_size=8)(h)
    h = L.Flatten()(h)
    return L.Dense(10)(h)


def _dscnn(tf: Any, x: Any) -> Any:
    L = tf.keras.layers
    h = L.Conv2D(16, (10, 4), strides=(2, 2), padding="same", activation="relu")(x)
    for _ in range(2):
        h = L.DepthwiseConv2D(3, padding="same", activation="relu")(h)
        h = L.Conv2D(16, 1, activation="relu")(h)
    h = L.AveragePooling2D(pool_size=(25, 5))(h)
    h = L.Flatten()(h)
    return L.Dense(12)(h)


def _mobilenet(tf: Any, x: Any) -> Any:
    L = tf.keras.layers
    h = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)  # 16x16x8
    h = L.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = L.Conv2D(16, 1, activation="relu")(h)
    a = L.Conv2D(16, 1, activation="relu")(h)
    a = L.Conv2D(16, 1, activation="relu")(a)  # square 1x1, input dies: fused with the strided depthwise
    a = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(a)  # 8x8x16
    b = L.ZeroPadding2D(((1, 0), (1, 0)))(h)  # PAD (not SAME's: top/left), a VALID stride-2 depthwise conv
    b = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(b)  # 8x8x16
    b = L.Conv2D(8, 1, activation="relu")(b)
    h = L.Concatenate(axis=-1)([L.Conv2D(8, 1, activation="relu")(a), b])  # 8x8x16
    h = L.MaxPooling2D(pool_size=2)(h)  # 4x4x16
    h = L.MaxPooling2D(pool_size=3, strides=1, padding="same")(h)
    h = L.Conv2D(24, (3, 2), strides=(2, 1), padding="valid", activation="relu")(h)  # 1x3x24
    h = L.GlobalAveragePooling2D()(h)
    return L.Dense(2)(h)


def _autoencoder(tf: Any, x: Any) -> Any:
    L = tf.keras.layers
    h = x
    for n in (32, 8, 32):
        h = L.Dense(n, activation="relu")(h)
    return L.Dense(64)(h)


def _reshaped(tf: Any, x: Any) -> Any:
    L = tf.keras.layers
    h = L.Conv2D(8, 3, padding="same", activation="relu")(x)  # 16x12x8
    h = L.Reshape((32, 12, 4))(h)
    h = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(h)  # 16x6x8
    h = L.AveragePooling2D(pool_size=(16, 6))(h)
    h = L.Flatten()(h)
    return L.Dense(5)(h)


BUILDERS: dict[str, Callable[[Any, Any], Any]] = {
    "resnet": _resnet, "dscnn": _dscnn, "mobilenet": _mobilenet, "autoencoder": _autoencoder, "reshaped": _reshaped,
}


def build(name: str, *, seed: int = 0, softmax: bool = False, sigmoid: bool = False, float_io: bool = False,
          per_channel_dense: bool = True) -> bytes:
    """The int8 ``.tflite`` of model ``name`` (random weights for ``seed``, calibrated on random data)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    x = tf.keras.Input(SHAPES[name], batch_size=1)
    y = BUILDERS[name](tf, x)
    if softmax:
        y = tf.keras.layers.Softmax()(y)
    if sigmoid:
        y = tf.keras.layers.Activation("sigmoid")(y)
    model = tf.keras.Model(x, y)
    rng = np.random.default_rng(seed)
    calib = rng.random((16, *SHAPES[name]), dtype=np.float32) * 2 - 0.5

    def dataset() -> Any:
        for v in calib:
            yield [v[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not per_channel_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return bytes(converter.convert())
