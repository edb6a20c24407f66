"""Reports of an output folder: ``report.html`` (self-contained, figures embedded) and ``report.md``.

``gather`` reads whatever the folder holds (training metrics, search results, compiled, built and
profiled firmware projects, the demo's summary); ``write_report`` renders both files;
``family_table_text`` is the family table for the terminal.
"""

from ofa_mcu.report.data import BoardReport, ReportData, gather
from ofa_mcu.report.render import family_table_text, write_report

__all__ = ["BoardReport", "ReportData", "family_table_text", "gather", "write_report"]
