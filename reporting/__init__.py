"""What a run wrote, for people: one self-contained HTML report and SQL over the run's tables.

``tables`` (DuckDB views over an output directory's Parquet tables and run summaries),
``aggregate`` (everything the report shows, aggregated in DuckDB), ``charts`` (plotly figures),
``html`` (the page), ``text`` (terminal summaries), ``query`` (``newsbeam query``).
Imported only by ``pipelines/``; reads ``transforms.core`` and nothing else of ours. The modules
are imported directly (``from reporting.html import write_report``) so that importing one does
not load plotly, jinja2 and DuckDB for the others.
"""
