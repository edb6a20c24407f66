"""The elastic supernet (torch) and extraction of static subnets from it."""

from ofa_mcu.supernet.extract import StaticSubnet, extract
from ofa_mcu.supernet.model import Supernet

__all__ = ["Supernet", "StaticSubnet", "extract"]
