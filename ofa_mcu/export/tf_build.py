"""The NHWC TensorFlow model of a folded subnet (TensorFlow imported lazily, only here).

The graph is written with plain TensorFlow ops inside a ``tf.function`` whose weights are
constants: ``conv2d``/``depthwise_conv2d`` + ``bias_add`` + ``relu6``, ``add``, ``avg_pool2d``
over the whole feature map (VALID, stride 1) and a ``reshape`` to (1, C), ``matmul`` + ``bias_add``,
then ``softmax`` (the exported model outputs class
probabilities, as every MLPerf Tiny reference model does, up to ``SOFTMAX_MAX_CLASSES`` classes;
the float check uses the logits). This
is exactly the graph a Keras functional model (Conv2D / DepthwiseConv2D with bias and ReLU6, Add,
AveragePooling2D over the whole map, Flatten, Dense, Softmax: the MLPerf Tiny models' head) lowers
to, without Keras' tracing machinery: TensorFlow's converter fuses bias and ReLU6 into CONV_2D /
DEPTHWISE_CONV_2D, turns the pooling into AVERAGE_POOL_2D, folds the reshape into the
FULLY_CONNECTED of the classifier (which flattens its 1x1xC input) and the softmax into SOFTMAX (int8 output, scale 1/256), and every
convolution uses SAME padding (checked to equal the torch padding when folding), so no PAD,
TRANSPOSE or RESHAPE op appears. Batch size is fixed at 1, as on the device.

The global pooling is AVERAGE_POOL_2D, not MEAN (what ``reduce_mean`` / GlobalAveragePooling2D
become): int8 MEAN's rounding changed between TFLM versions (the February 2023 tree's MEAN differs
by 1 from today's on some outputs), while AVERAGE_POOL_2D's ``(sum +- n/2) / n`` is the same in
every TFLM version, in CMSIS-NN and in the native runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ofa_mcu.export.layers import FoldedNet


def tf_module() -> Any:
    """Import TensorFlow quietly (its C++ logging off) and return the module."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def build_tf_function(net: FoldedNet, softmax: bool | None = None) -> Any:
    """A ``tf.function`` computing the class probabilities of ``net`` (``softmax=False``: the
    logits; default: probabilities up to :data:`ofa_mcu.ir.SOFTMAX_MAX_CLASSES` classes, as the
    layer IR has them) for an NHWC float32 batch of one."""
    from ofa_mcu.ir import SOFTMAX_MAX_CLASSES

    if softmax is None:
        softmax = int(np.asarray(net.fc_weight).shape[1]) <= SOFTMAX_MAX_CLASSES
    tf = tf_module()
    consts = []
    for kind, conv in net.program:
        if kind == "conv" and conv is not None:
            consts.append((conv, tf.constant(conv.weight), tf.constant(conv.bias)))
    fc_w, fc_b = tf.constant(net.fc_weight), tf.constant(net.fc_bias)
    r, c = net.resolution, net.in_channels

    def forward(x: Any) -> Any:
        it = iter(consts)
        saved = None
        for kind, _ in net.program:
            if kind == "save":
                saved = x
            elif kind == "add":
                x = tf.add(saved, x)
            else:
                conv, w, b = next(it)
                strides = (1, conv.stride, conv.stride, 1)
                if conv.depthwise:
                    x = tf.nn.depthwise_conv2d(x, w, strides, "SAME")
                else:
                    x = tf.nn.conv2d(x, w, strides, "SAME")
                x = tf.nn.bias_add(x, b)
                if conv.relu6:
                    x = tf.nn.relu6(x)
        h, w, ch = (int(d) for d in x.shape[1:])
        x = tf.nn.avg_pool2d(x, ksize=(h, w), strides=1, padding="VALID")
        x = tf.reshape(x, (1, ch))
        logits = tf.nn.bias_add(tf.matmul(x, fc_w), fc_b)
        return tf.nn.softmax(logits) if softmax else logits

    return tf.function(forward, input_signature=[tf.TensorSpec((1, r, r, c), tf.float32, name="input")],
                       autograph=False, reduce_retracing=True)


def tf_float_logits(fn: Any, x_nhwc: np.ndarray) -> np.ndarray:
    """Run the float TensorFlow graph on an NHWC batch (one sample at a time, batch size 1)."""
    out = [fn(x_nhwc[i:i + 1]).numpy() for i in range(len(x_nhwc))]
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0), np.float32)
