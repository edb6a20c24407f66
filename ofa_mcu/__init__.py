"""ofa-mcu: train one Once-for-All supernet, deploy a fitted INT8 subnet to each microcontroller."""

__version__ = "0.1.0"
