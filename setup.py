"""Packaging glue: ships targets/, templates/ and firmware/ inside the wheel as ofa_mcu/_data/.

setup.cfg holds the metadata; this file only adds the repository's data folders, which live at
the top level (where a newcomer looks for them) but must be installed with the package so that
`pip install .` (not only an editable install) finds the board YAMLs, templates and firmware.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("targets", "templates", "firmware")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        for name in DATA_DIRS:
            src_root = os.path.join(here, name)
            for dirpath, _dirs, files in os.walk(src_root):
                rel = os.path.relpath(dirpath, here)
                for fname in files:
                    if fname.endswith((".pyc", ".o")):
                        continue
                    dst = os.path.join(self.build_lib, "ofa_mcu", "_data", rel, fname)
                    self.mkpath(os.path.dirname(dst))
                    self.copy_file(os.path.join(dirpath, fname), dst)


setup(cmdclass={"build_py": BuildWithData})
