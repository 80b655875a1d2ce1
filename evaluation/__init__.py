"""``newsbeam eval``: quality measured on labelled directories, calling the stages' own code.

``cli`` (dispatch), ``extraction``, ``language``, ``dedup`` (one per kind), ``stories`` and
``planted`` (same-story and planted-copy scoring). Never imported by ``transforms``.
"""
